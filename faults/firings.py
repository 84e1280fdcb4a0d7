"""Firings: the triggers a scenario schedules, the slots they make due, and the accounting of what became of each.

The words of the report, per scenario:

- *slots due*: every (trigger, slot) the schedules make due in the run, computed here from the stored rows
  with plain arithmetic (not with the product's schedule code): a one-off trigger has one slot, an interval
  trigger one every N seconds from its first run up to its end time.
- *logged once*: slots with exactly one execution log. *duplicates*: slots with two or more logs — the real
  duplicate, two firings of one slot (the unique (trigger, slot) constraint should make it impossible).
- *coalesced*: slots an interval trigger missed while nothing could dispatch (a broker outage) and that its
  `fire_once` misfire policy folded into one later firing (the log's `missed_slots`): documented behaviour,
  accounted for, not lost.
- *delivered*: logged firings whose delivery id (`X-Eventsys-Delivery`) the receiver answered with 200.
- *same id received again*: extra requests carrying a delivery id the receiver had already answered. The
  receiver always answers 200, so none of them is a retry after a failure: each is a worker that POSTed and
  died (or lost its database) before recording the outcome, so the sweeper sent the attempt again. That is
  at-least-once delivery working as designed — the id is the same, and a receiver drops the repeat — and is
  shown apart from duplicates of firings. Without killed processes it should be 0.
- *lost*: logged firings the receiver never saw by the end of the drain period, plus due slots never logged
  (and not coalesced).
- *recovery* (per fault): from the moment the dependency is back (the restarted worker ready, Redis
  accepting connections) until every firing due before that moment has reached the receiver; "not
  recovered" when one never did within the drain period.
"""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Plan:
    """What a scenario schedules: one-off triggers spread evenly over the window and interval triggers
    (seconds each) running through it."""

    one_offs: int
    every: tuple[int, ...] = ()


@dataclass
class Fault:
    """One injected fault: when it began and when the dependency was back (epoch s)."""

    label: str
    down_at: float
    back_at: float | None = None
    note: str = ""


def owner(username: str = "faults"):
    from accounts.models import User

    return User.objects.create_user(username=username)


PROVISIONAL = timedelta(days=1)  # where the triggers are created, out of the dispatcher's way until armed


def create_triggers(*, plan: Plan, sink_url: str, seconds: float, user) -> datetime:
    """The plan's triggers through the service layer (validation, first run), due within a window of
    `seconds` that starts a day from now (returned); `arm` moves that window to the present. Creating
    ~2,000 through the service takes tens of seconds on a busy machine: the start must not depend on it.
    Interval triggers' first runs are staggered so the slots do not all fall on the same instant."""
    from django.db import transaction
    from django.utils import timezone

    from triggers.services import trigger_create

    start = timezone.now() + PROVISIONAL
    common = {"owner": user, "kind": "api", "api_endpoint": sink_url}
    end = start + timedelta(seconds=seconds)
    with transaction.atomic():
        for i in range(plan.one_offs):
            at = start + timedelta(seconds=seconds * (i + 0.5) / plan.one_offs)
            trigger_create(name=f"once {i}", schedule_type="one_off", schedule_time=at, api_payload={"n": i}, **common)
        for j, every in enumerate(plan.every):
            first = start + timedelta(seconds=every * (j + 0.5) / len(plan.every))
            trigger_create(
                name=f"every {every}s #{j}",
                schedule_type="interval",
                interval=every,
                interval_unit="seconds",
                schedule_time=first,
                end_at=end,
                api_payload={"j": j},
                **common,
            )
    return start


def arm(provisional: datetime, *, lead: float = 2.0) -> float:
    """Move every trigger's schedule by the same amount so that its window starts `lead` seconds from
    now (returned, epoch s). One UPDATE of times the service already validated, shifted as a whole."""
    from django.db.models import F
    from django.utils import timezone

    from triggers.models import Trigger

    start = timezone.now() + timedelta(seconds=lead)
    delta = start - provisional
    Trigger.objects.update(
        schedule_time=F("schedule_time") + delta, next_run_at=F("next_run_at") + delta, end_at=F("end_at") + delta
    )
    return start.timestamp()


def expected_slots() -> dict[int, set[datetime]]:
    """trigger id -> its due slots, from the stored rows (the database's microseconds)."""
    from triggers.models import Trigger

    slots: dict[int, set[datetime]] = {}
    rows = Trigger.objects.values_list("id", "schedule_type", "schedule_time", "interval", "end_at")
    for pk, kind, first, every, end in rows:
        if kind == "one_off":
            slots[pk] = {first}
        else:
            step = timedelta(seconds=every)
            slots[pk] = {first + k * step for k in range((end - first) // step + 1)} if first <= end else set()
    return slots


def progress() -> dict:
    """Logs so far, slots they account for (with coalesced ones), and how many still await delivery."""
    from django.db.models import Count, Q, Sum

    from triggers.models import ExecutionLog

    counts = ExecutionLog.objects.filter(source="schedule").aggregate(
        logs=Count("id"), missed=Sum("missed_slots"), pending=Count("id", filter=Q(status="pending"))
    )
    return {"logs": counts["logs"], "accounted": counts["logs"] + (counts["missed"] or 0), "pending": counts["pending"]}


def drain(*, due: int, until: float, stack) -> float:
    """Wait until every due slot is accounted for and nothing is pending, or `until` (epoch s); returns when."""
    while time.time() < until:
        seen = progress()
        if seen["accounted"] >= due and seen["pending"] == 0:
            break
        stack.supervise()
        time.sleep(0.5)
    return time.time()


@dataclass
class Figures:
    due: int = 0
    logged_once: int = 0
    duplicates: int = 0
    coalesced: int = 0
    logged: int = 0
    delivered: int = 0
    redelivered: int = 0
    never_delivered: int = 0
    never_logged: int = 0
    unknown_ids: int = 0
    retried: int = 0
    still_pending: int = 0  # logs still pending when the drain ended
    lease_left: float = 0.0  # seconds until the last of their leases runs out (when the sweeper may re-send)
    # (fault, seconds to recover or None, firings waiting when it began)
    recoveries: list[tuple[Fault, float | None, int]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return self.never_delivered + self.never_logged

    @property
    def longest_recovery(self) -> float | None:
        """The longest recovery; None if some fault never recovered; 0 without faults."""
        values = [seconds for _, seconds, _ in self.recoveries]
        return None if None in values else max(values, default=0.0)


def figures(*, expected: dict[int, set[datetime]], records: list[tuple[str, float]], faults: list[Fault]) -> Figures:
    """The accounting above, from the execution logs and the receiver's (delivery id, receive time) records."""
    from triggers.models import ExecutionLog

    logs = list(
        ExecutionLog.objects.filter(source="schedule").values_list(
            "trigger_id", "scheduled_for", "delivery_id", "missed_slots", "attempts"
        )
    )
    per_slot = Counter((trigger_id, slot) for trigger_id, slot, *_ in logs)
    missed: dict[int, int] = defaultdict(int)
    for trigger_id, _, _, missed_slots, _ in logs:
        missed[trigger_id] += missed_slots
    received = Counter(delivery_id for delivery_id, _ in records)
    first_received: dict[str, float] = {}
    for delivery_id, at in records:
        first_received[delivery_id] = min(at, first_received.get(delivery_id, at))
    ids = {str(delivery_id) for _, _, delivery_id, _, _ in logs}

    f = Figures(due=sum(len(slots) for slots in expected.values()), logged=len(logs))
    for trigger_id, slots in expected.items():
        not_logged = sum((trigger_id, slot) not in per_slot for slot in slots)
        covered = min(not_logged, missed[trigger_id])
        f.coalesced += covered
        f.never_logged += not_logged - covered
        f.logged_once += sum(per_slot.get((trigger_id, slot)) == 1 for slot in slots)
    f.duplicates = sum(count - 1 for count in per_slot.values() if count > 1)
    f.delivered = len(ids & first_received.keys())
    f.never_delivered = len(ids - first_received.keys())
    f.redelivered = sum(count - 1 for count in received.values() if count > 1)
    f.unknown_ids = len(first_received.keys() - ids)
    f.retried = sum(attempts > 1 for *_, attempts in logs)
    leases = list(ExecutionLog.objects.filter(status="pending").values_list("lease_until", flat=True))
    f.still_pending = len(leases)
    f.lease_left = max((lease.timestamp() - time.time() for lease in leases if lease), default=0.0)

    for fault in faults:
        back = fault.back_at if fault.back_at is not None else fault.down_at
        backlog = [str(d) for _, slot, d, _, _ in logs if slot.timestamp() <= back]
        # the firings due by then that had not reached the receiver when the fault began
        waiting = sum(first_received.get(d, float("inf")) > fault.down_at for d in backlog)
        if any(d not in first_received for d in backlog):
            f.recoveries.append((fault, None, waiting))
        else:
            last = max((first_received[d] for d in backlog), default=back)
            f.recoveries.append((fault, max(last - back, 0.0), waiting))
    return f
