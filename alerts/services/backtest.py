"""Backtests of a transaction rule: what it would have fired, with changed parameters, on the
transactions stored in the last N days, beside the rule as it is.

Each transaction in the window is answered exactly as the live path (alerts.services.transactions)
answered it: on its customer's history as that request saw it, the transactions stored before it
(smaller id) whose `time` is at or before its own, ordered by (time, id), and only by a rule of its
type. Rules are global, so every owner's transactions are replayed. Both sides are evaluated as if
enabled: a disabled rule's `current` is what it would have fired switched on.

The work is set-based: one statement streams the history of every customer with a transaction in the
window, ordered by (customer, time, id) (the alerts_tx_history index), through a server-side cursor,
and each customer's rows are evaluated in memory with running windows, O(1) per row and rule. A
customer whose transactions did not arrive in time order (a late arrival) is replayed in arrival
order instead, each transaction on its own history, through the live path's `_evaluate`.
"""

import bisect
import heapq
import itertools
import time as time_module
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from alerts.models import AlertRule, Customer, Transaction, TransactionAlert
from alerts.services import transactions

PARAMETERS = ("kind", "transaction_type", "threshold", "count", "window_seconds")  # what a backtest may change
EXAMPLES = 20
_CHUNK_ROWS = 10_000  # rows per fetch from the server-side cursor
# A streamed row: (customer id, id, type, amount, time, stored in the window)
_CUSTOMER, _ID, _TYPE, _AMOUNT, _TIME, _IN_WINDOW = range(6)
_Tx = namedtuple("_Tx", "pk type amount time")  # what transactions._evaluate reads of a transaction


@dataclass
class Side:
    """What one version of the rule fires in the window."""

    rule: AlertRule
    alerts: int = 0  # one per transaction it fires on
    transactions: int = 0  # distinct transactions in those alerts' evidence
    customers: int = 0  # distinct customers alerted
    examples: list[dict] = field(default_factory=list)
    # per customer, while it is replayed: (the row it fires on, seq, lo, hi): its evidence is seq[lo:hi]
    _hits: list[tuple[tuple, list, int, int]] = field(default_factory=list)
    _evidence: int = 0  # distinct evidence rows of this customer
    _heap: list = field(default_factory=list)  # the examples kept so far: ((only here, id), n, example)

    def as_dict(self) -> dict:
        return {
            "alerts": self.alerts,
            "transactions": self.transactions,
            "customers": self.customers,
            "examples": self.examples,
        }


@dataclass
class Backtest:
    rule: AlertRule
    changed: dict
    days: int
    window_from: datetime
    window_to: datetime
    replayed_transactions: int
    replayed_customers: int
    recorded_alerts: int
    current: Side
    backtest: Side
    added: int  # transactions only the changed rule fires on
    removed: int  # transactions only the current rule fires on
    kept: int  # transactions both fire on
    seconds: float


def rule_backtest(*, rule: AlertRule, changes: dict, days: int = 30, now: datetime | None = None) -> Backtest:
    """Replay the transactions stored in the `days` before `now` through `rule` as it is and with
    `changes` (a subset of PARAMETERS, already validated), and count what each fires."""
    started = time_module.perf_counter()
    now = now or timezone.now()
    window_from = now - timedelta(days=days)
    changed_rule = AlertRule(**{name: getattr(rule, name) for name in PARAMETERS}, code=rule.code)
    for name, value in changes.items():
        setattr(changed_rule, name, value)
    current, backtest = Side(rule=rule), Side(rule=changed_rule)
    counts = {"transactions": 0, "customers": 0, "added": 0, "removed": 0, "kept": 0}
    with transaction.atomic():  # a server-side cursor without WITH HOLD, one snapshot
        for rows in _customers(window_from, now):
            counts["customers"] += 1
            counts["transactions"] += sum(1 for row in rows if row[_IN_WINDOW])
            _replay(rows, (current, backtest))
            _settle(current, backtest, counts)
    recorded = TransactionAlert.objects.filter(
        rule=rule, transaction__created_at__gte=window_from, transaction__created_at__lte=now
    ).count()
    _examples_finish((current, backtest))
    return Backtest(
        rule=rule,
        changed=dict(changes),
        days=days,
        window_from=window_from,
        window_to=now,
        replayed_transactions=counts["transactions"],
        replayed_customers=counts["customers"],
        recorded_alerts=recorded,
        current=current,
        backtest=backtest,
        added=counts["added"],
        removed=counts["removed"],
        kept=counts["kept"],
        seconds=time_module.perf_counter() - started,
    )


def _customers(window_from: datetime, window_to: datetime) -> Iterator[list[tuple]]:
    """Every customer with a transaction stored in [window_from, window_to]: all its stored
    transactions, ordered by (time, id), each flagged whether it was stored in the window."""
    table = Transaction._meta.db_table
    amount = "CAST(amount AS TEXT)" if connection.vendor == "sqlite" else "amount"  # SQLite keeps numbers as REAL
    sql = (
        f'SELECT customer_id, id, "type", {amount}, "time", (created_at >= %s AND created_at <= %s)'
        f" FROM {table} WHERE customer_id IN"
        f" (SELECT customer_id FROM {table} WHERE created_at >= %s AND created_at <= %s)"
        f' ORDER BY customer_id, "time", id'
    )
    bounds = [connection.ops.adapt_datetimefield_value(when) for when in (window_from, window_to)]
    with connection.chunked_cursor() as cursor:  # server-side on PostgreSQL: the history is never all in memory
        cursor.execute(sql, [*bounds, *bounds])
        for _, rows in itertools.groupby(_fetched(cursor), key=lambda row: row[_CUSTOMER]):
            yield list(rows)


def _fetched(cursor) -> Iterator[tuple]:
    exact = connection.vendor == "sqlite"
    while chunk := cursor.fetchmany(_CHUNK_ROWS):
        if exact:
            chunk = [(c, i, t, Decimal(a), tm, w) for c, i, t, a, tm, w in chunk]
        yield from chunk


def _replay(rows: list[tuple], sides: tuple[Side, ...]) -> None:
    """Evaluate each side's rule on one customer's rows (ordered by (time, id))."""
    if all(a[_ID] < b[_ID] for a, b in itertools.pairwise(rows)):
        # Arrival order is time order: each transaction's live history is every row before it.
        typed: dict[str, list[tuple]] = {}
        for side in sides:
            rule = side.rule
            if rule.transaction_type not in typed:
                typed[rule.transaction_type] = [row for row in rows if row[_TYPE] == rule.transaction_type]
            _IN_ORDER[rule.kind](rule, rows, typed[rule.transaction_type], side)
    else:
        _replay_by_arrival(rows, sides)


def _hit(side: Side, seq: list[tuple], lo: int, hi: int, covered: int) -> int:
    """`side`'s rule fires on seq[hi - 1] with the evidence seq[lo:hi]; `covered`: how far the
    evidence counted so far reaches in `seq` (evidence windows only move forward). Returns the new reach."""
    side._hits.append((seq[hi - 1], seq, lo, hi))
    start = max(lo, covered)
    if hi > start:
        side._evidence += hi - start
    return max(hi, covered)


def _amount_over(rule: AlertRule, rows: list[tuple], typed: list[tuple], side: Side) -> None:
    threshold, covered = rule.threshold, 0
    for j, row in enumerate(typed):
        if row[_IN_WINDOW] and row[_AMOUNT] > threshold:
            covered = _hit(side, typed, j, j + 1, covered)


def _consecutive_type(rule: AlertRule, rows: list[tuple], typed: list[tuple], side: Side) -> None:
    # The latest `count` transactions (of any type) are all of the rule's type: a run of that length.
    wanted, count, run, covered = rule.transaction_type, rule.count, 0, 0
    for i, row in enumerate(rows):
        if row[_TYPE] != wanted:
            run = 0
            continue
        run += 1
        if run >= count and row[_IN_WINDOW]:
            covered = _hit(side, rows, i - count + 1, i + 1, covered)


def _increasing_series(rule: AlertRule, rows: list[tuple], typed: list[tuple], side: Side) -> None:
    # The latest `count` of the type each strictly larger than the one before: an increasing run.
    count, run, previous, covered = rule.count, 0, None, 0
    for j, row in enumerate(typed):
        amount = row[_AMOUNT]
        run = run + 1 if previous is not None and previous < amount else 1
        previous = amount
        if run >= count and row[_IN_WINDOW]:
            covered = _hit(side, typed, j - count + 1, j + 1, covered)


def _window_sum(rule: AlertRule, rows: list[tuple], typed: list[tuple], side: Side) -> None:
    # The type's amounts with time in [T - window_seconds, T], this one included: a sliding window
    # whose exact decimal total is kept as it moves (times only grow along `typed`).
    threshold, width = rule.threshold, rule.window_seconds
    start, total, covered = 0, Decimal(0), 0
    for j, row in enumerate(typed):
        total += row[_AMOUNT]
        floor = row[_TIME] - width
        while typed[start][_TIME] < floor:
            total -= typed[start][_AMOUNT]
            start += 1
        if row[_IN_WINDOW] and total > threshold:
            covered = _hit(side, typed, start, j + 1, covered)


_IN_ORDER = {
    AlertRule.Kind.AMOUNT_OVER: _amount_over,
    AlertRule.Kind.CONSECUTIVE_TYPE: _consecutive_type,
    AlertRule.Kind.INCREASING_SERIES: _increasing_series,
    AlertRule.Kind.WINDOW_SUM: _window_sum,
}


def _replay_by_arrival(rows: list[tuple], sides: tuple[Side, ...]) -> None:
    """The live path itself, row by row in arrival order: each transaction sees the rows stored
    before it with a time at or before its own, and transactions._evaluate decides."""
    ordered: list[tuple] = []  # the rows arrived so far, by (time, id)
    keys: list[tuple[int, int]] = []
    seen: dict[int, set[int]] = {id(side): set() for side in sides}
    by_id = {row[_ID]: row for row in rows}
    for row in sorted(rows, key=lambda row: row[_ID]):
        key = (row[_TIME], row[_ID])
        position = bisect.bisect_right(keys, key)  # every row before it: earlier arrivals, time <= its own
        if row[_IN_WINDOW]:
            tx = _Tx(row[_ID], row[_TYPE], row[_AMOUNT], row[_TIME])
            for side in sides:
                rule = side.rule
                if row[_TYPE] != rule.transaction_type:
                    continue  # the live path evaluates only the rules of the transaction's type
                history = [_Tx(r[_ID], r[_TYPE], r[_AMOUNT], r[_TIME]) for r in _lookback(rule, row, ordered, position)]
                evidence = transactions._evaluate(rule, tx, history)
                if evidence:
                    oldest_first = sorted((by_id[t.pk] for t in evidence), key=lambda r: (r[_TIME], r[_ID]))
                    side._hits.append((row, oldest_first, 0, len(evidence)))
                    seen[id(side)].update(t.pk for t in evidence)
        keys.insert(position, key)
        ordered.insert(position, row)
    for side in sides:
        side._evidence += len(seen[id(side)])


def _lookback(rule: AlertRule, row: tuple, ordered: list[tuple], position: int) -> list[tuple]:
    """What transactions._lookback reads for `rule`, from `ordered[:position]`, latest first."""
    earlier = reversed(ordered[:position])
    if rule.kind == AlertRule.Kind.CONSECUTIVE_TYPE and rule.count > 1:
        return list(itertools.islice(earlier, rule.count - 1))
    typed = (r for r in earlier if r[_TYPE] == rule.transaction_type)
    if rule.kind == AlertRule.Kind.INCREASING_SERIES and rule.count > 1:
        return list(itertools.islice(typed, rule.count - 1))
    if rule.kind == AlertRule.Kind.WINDOW_SUM:
        return [r for r in typed if r[_TIME] >= row[_TIME] - rule.window_seconds]
    return []


def _settle(current: Side, backtest: Side, counts: dict) -> None:
    """Add one replayed customer's hits to both sides' counts and examples."""
    fired = {id(side): {hit[0][_ID] for hit in side._hits} for side in (current, backtest)}
    both = len(fired[id(current)] & fired[id(backtest)])
    counts["kept"] += both
    counts["added"] += len(fired[id(backtest)]) - both
    counts["removed"] += len(fired[id(current)]) - both
    for side, other in ((current, backtest), (backtest, current)):
        if side._hits:
            side.alerts += len(side._hits)
            side.customers += 1
            side.transactions += side._evidence
            for row, seq, lo, hi in side._hits:
                _example_offer(side, row, seq, lo, hi, only_here=row[_ID] not in fired[id(other)])
        side._hits = []
        side._evidence = 0


def _example_offer(side: Side, row: tuple, seq: list[tuple], lo: int, hi: int, *, only_here: bool) -> None:
    """Keep the EXAMPLES best: those the other side does not fire on first, then the latest stored."""
    rank = (only_here, row[_ID])
    if len(side._heap) < EXAMPLES:
        heapq.heappush(side._heap, (rank, row, seq[lo:hi], only_here))
    elif rank > side._heap[0][0]:
        heapq.heapreplace(side._heap, (rank, row, seq[lo:hi], only_here))


def _examples_finish(sides: tuple[Side, ...]) -> None:
    """The kept examples, best first, with their customers' numbers and owners (one query)."""
    customer_ids = {entry[1][_CUSTOMER] for side in sides for entry in side._heap}
    customers = {}
    if customer_ids:
        customers = {
            pk: (external_id, owner)
            for pk, external_id, owner in Customer.objects.filter(pk__in=customer_ids).values_list(
                "pk", "external_id", "owner__username"
            )
        }
    for side in sides:
        for _, row, evidence, only_here in sorted(side._heap, key=lambda entry: entry[0], reverse=True):
            user_id, owner = customers[row[_CUSTOMER]]
            side.examples.append(
                {
                    "transaction_id": row[_ID],
                    "owner": owner,
                    "user_id": user_id,
                    "type": row[_TYPE],
                    "amount": _money(row[_AMOUNT]),
                    "time": row[_TIME],
                    "only_here": only_here,
                    "evidence": [
                        {"id": r[_ID], "type": r[_TYPE], "amount": _money(r[_AMOUNT]), "time": r[_TIME]}
                        for r in evidence
                    ],
                }
            )
        side._heap = []


def _money(amount: Decimal) -> str:
    """As the live path writes an amount (two places)."""
    return str(amount.quantize(Decimal("0.01")))
