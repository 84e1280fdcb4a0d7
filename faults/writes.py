"""(d) PostgreSQL backends killed with pg_terminate_backend while ingest and transactions are posted.

Two open-loop streams run side by side through gunicorn (2 workers x 4 threads): ingest batches of
INGEST_BATCH events (each event with its own idempotency key) and single transactions (each with an
idempotency key), at `write_rate` requests per second each; one-off triggers fire meanwhile. Every
`kill_every` seconds every backend of the web, worker and beat processes on the scenario's database is
terminated (found by application_name; the suite's own connections are spared).

Afterwards, from the database:
- *acknowledged missing*: a request answered 2xx whose rows are not all there (an ingest batch missing
  an event, a transaction missing). Must be 0.
- *half-written*: a refused request that left part of its rows (some of a batch's events), or a stored
  transaction whose alerts differ from the alert codes it answered. Must be 0.
- *refused*: the statuses of non-2xx answers; only 5xx is acceptable, and only for a request that was in
  flight within a second of a kill ("outside a kill" must be 0). Refused but stored in full is shown: the
  commit landed and the answer did not, which a client's resend with the same idempotency key settles.
- *recovery*: per kill, from the kill to the first acknowledged write sent after it; the longest is shown.
"""

import json
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg

from bench.support import post_all
from faults.firings import Fault, drain, figures, owner
from faults.probe import summary
from faults.report import Result, add_exits, add_firings, check_recovery, seconds_text
from faults.scenarios import Size, sleep_until, start_firing
from faults.stack import APP_PREFIX, database_url, running_stack

INGEST_BATCH = 5
CLIENTS = 6  # per stream
KILLED_ROLES = ("web", "worker", "beat")


def ingest_bodies(count: int) -> list[bytes]:
    return [
        json.dumps(
            [
                {"event_type": "fault.probe", "event_payload": {"r": r, "i": i}, "idempotency_key": f"r{r}-{i}"}
                for i in range(INGEST_BATCH)
            ]
        ).encode()
        for r in range(count)
    ]


def transaction_bodies(count: int, base_time: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "type": "withdraw" if r % 3 == 0 else "deposit",
                "amount": f"{r % 400 + 1}.00",
                "user_id": r % 100 + 1,
                "time": base_time + r,
                "idempotency_key": f"t{r}",
            }
        ).encode()
        for r in range(count)
    ]


class BackendKiller(threading.Thread):
    """Terminates the processes' backends on the scenario's database every `every` seconds until stopped."""

    def __init__(self, every: float) -> None:
        super().__init__(name="backend-killer", daemon=True)
        self.every = every
        self.kills: list[tuple[float, int]] = []  # (when, backends terminated)
        self.by_role: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        names = [APP_PREFIX + role for role in KILLED_ROLES]
        try:
            with psycopg.connect(database_url("killer"), autocommit=True) as conn:
                while not self._halt.wait(self.every):
                    rows = conn.execute(
                        "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        " AND application_name = ANY(%s)",
                        [names],
                    ).fetchall()
                    self.kills.append((time.time(), sum(ok for _, ok in rows)))
                    self.by_role.update(name.removeprefix(APP_PREFIX) for name, ok in rows if ok)
        except BaseException as exc:  # reported by the scenario, not lost in a thread
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join()


def post_stream(port: int, path: str, token: str, bodies: list[bytes], rate: float, outcomes: list, errors: list):
    try:
        post_all(port, path, token, bodies, CLIENTS, rate=rate, outcomes=outcomes)
    except BaseException as exc:
        errors.append(exc)


def verify(user, ingest: list, transactions: list) -> dict:
    """What the database holds for each request's answer (see the module docstring)."""
    from alerts.models import Transaction, TransactionAlert
    from events.models import IngestedEvent

    keys = set(IngestedEvent.objects.filter(owner=user).values_list("idempotency_key", flat=True))
    stored = dict(Transaction.objects.filter(owner=user).values_list("idempotency_key", "answer"))
    alert_codes: dict[str, set[int]] = {}
    for key, code in TransactionAlert.objects.filter(owner=user).values_list("transaction__idempotency_key", "code"):
        alert_codes.setdefault(key, set()).add(code)
    v = Counter()
    for index, status, _, _ in ingest:
        present = sum(f"r{index}-{i}" in keys for i in range(INGEST_BATCH))
        if 200 <= status < 300:
            v["acknowledged"] += 1
            v["acknowledged missing"] += present < INGEST_BATCH
        elif 0 < present < INGEST_BATCH:
            v["half-written"] += 1
        elif present == INGEST_BATCH:
            v["refused but stored"] += 1
    for index, status, _, _ in transactions:
        present = f"t{index}" in stored
        if 200 <= status < 300:
            v["acknowledged"] += 1
            v["acknowledged missing"] += not present
        elif present:
            v["refused but stored"] += 1
    for key, answer in stored.items():
        v["half-written"] += set(answer.get("alert_codes") or []) != alert_codes.get(key, set())
    return v


def run_load(stack, size: Size, token: str, start: float, count: int) -> tuple[list, list, BackendKiller]:
    """Both streams from `start` with the killer running: (ingest outcomes, transaction outcomes, killer)."""
    ingest, transactions, errors = [], [], []
    streams = [
        threading.Thread(
            target=post_stream,
            args=(stack.port, "/api/v1/ingest/", token, ingest_bodies(count), size.write_rate, ingest, errors),
        ),
        threading.Thread(
            target=post_stream,
            args=(
                stack.port,
                "/api/v1/transactions/",
                token,
                transaction_bodies(count, int(start)),
                size.write_rate,
                transactions,
                errors,
            ),
        ),
    ]
    sleep_until(start, stack)
    killer = BackendKiller(size.kill_every)
    killer.start()
    for stream in streams:
        stream.start()
    try:
        for stream in streams:
            stream.join()
    finally:
        killer.stop()
    if errors:
        raise errors[0]
    if killer.error:
        raise killer.error
    return ingest, transactions, killer


def add_writes(result: Result, v: Counter, ingest: list, transactions: list, killer: BackendKiller, probe) -> None:
    """The write rows of (d) and the failures they imply (outcomes: (index, status, sent, answered))."""
    kills = [at for at, _ in killer.kills]
    requests = ingest + transactions
    refused = [o for o in requests if not 200 <= o[1] < 300]
    away = len(refused) - sum(any(o[2] - 1.0 <= k <= o[3] + 0.1 for k in kills) for o in refused)
    not_5xx = sum(not 500 <= o[1] < 600 for o in refused)
    recoveries = []
    for k in kills:
        later = [o[3] for o in requests if o[2] >= k and 200 <= o[1] < 300]
        if later:
            recoveries.append(min(later) - k)
    longest = max(recoveries, default=0.0)
    statuses = Counter(o[1] for o in refused)
    by_status = ", ".join(f"{s or 'no answer'} x{n}" for s, n in sorted(statuses.items())) or "none"

    result.row("requests sent (ingest + transactions)", f"{len(ingest):,} + {len(transactions):,}")
    result.row("kill rounds / backends terminated", f"{len(kills)} / {sum(n for _, n in killer.kills)}")
    result.row("  terminated by process", ", ".join(f"{r} {n}" for r, n in sorted(killer.by_role.items())))
    result.row("acknowledged (2xx)", v["acknowledged"])
    result.row("refused, by status", by_status, "5xx only")
    result.row("refused outside a kill", away, "0")
    result.row("refused but stored in full", v["refused but stored"])
    result.row("acknowledged writes missing", v["acknowledged missing"], "0")
    result.row("half-written", v["half-written"], "0")
    result.row("longest recovery (kill to next 2xx)", seconds_text(longest), "<= 60 s")
    result.row("/api/ready/ within 1.5 s of a kill", summary([s for k in kills for s in probe.between(k, k + 1.5)]))

    if v["acknowledged missing"]:
        result.failures.append(f"{v['acknowledged missing']} acknowledged write(s) missing")
    if v["half-written"]:
        result.failures.append(f"{v['half-written']} request(s) half-written")
    if not_5xx:
        result.failures.append(f"{not_5xx} refusal(s) that are not 5xx")
    if away:
        result.failures.append(f"{away} refusal(s) away from any kill")
    check_recovery(result, longest)


def backend_kills(size: Size, log_root: Path) -> Result:
    count = int(size.write_seconds * size.write_rate)
    title = (
        f"PostgreSQL backends killed every {size.kill_every:g} s during {count:,} ingest batches "
        f"and {count:,} transactions ({size.write_rate:g}/s each)"
    )
    result = Result("d", title)
    unthrottled = {"THROTTLE_INGEST": "100000000/min", "THROTTLE_USER": "100000000/min"}
    with running_stack(log_root / "d-pg-kills", web_workers=2, extra_env=unthrottled) as stack:
        from accounts.services import api_token_create

        user = owner("writer")
        _, token = api_token_create(user=user, name="faults")
        start, end, expected = start_firing(stack, size.write_plan, size.write_seconds, user)
        ingest, transactions, killer = run_load(stack, size, token, start, count)
        drain(due=sum(len(slots) for slots in expected.values()), until=end + size.drain, stack=stack)
        # Each kill round is a fault that is over at once: its recovery is until every firing due by then arrived.
        kills = [Fault(f"kill at +{at - start:.0f} s", down_at=at, back_at=at) for at, _ in killer.kills]
        firing_figures = figures(expected=expected, records=stack.sink.records(), faults=kills)
        add_writes(result, verify(user, ingest, transactions), ingest, transactions, killer, stack.probe)
        recovery = "longest recovery (firings due by a kill)"
        add_firings(result, firing_figures, drain=size.drain, faulted=True, recovery=recovery, notes=False)
        add_exits(result, stack)
    return result
