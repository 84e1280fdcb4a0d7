"""Transaction monitoring: store a customer's transaction and evaluate the rules at once.

A customer's history is ordered by the client's `time`, ties by arrival (id). Every rule looks at
the history as of this transaction, after storing it: a late arrival takes its place in time, and
transactions later than it are not part of its picture. Each rule reads a bounded look-back or one
indexed window aggregate, so the cost per transaction does not grow with the history.
"""

import dataclasses
import itertools
import time as time_module
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from alerts.models import AlertRule, Customer, Transaction, TransactionAlert

RULES_CACHE_SECONDS = 5.0
_rules_cache: dict[str, tuple[float, list[AlertRule]]] = {}


@dataclass(frozen=True)
class Answer:
    alert: bool
    alert_codes: list[int]
    user_id: int
    transaction_id: int | None = None  # the row this request stored; None for a resend answered as the first

    def as_dict(self) -> dict:
        return {"alert": self.alert, "alert_codes": self.alert_codes, "user_id": self.user_id}


def transactions_visible_to(user) -> QuerySet[Transaction]:
    return Transaction.objects.filter(owner=user)


def transaction_alerts_visible_to(user) -> QuerySet[TransactionAlert]:
    return TransactionAlert.objects.filter(owner=user)


def transaction_record(
    *, owner, user_id: int, type: str, amount: Decimal, time: int, idempotency_key: str = ""
) -> Answer:
    """Store a transaction for the caller's customer `user_id` and answer which rules it fired.

    A resend with the same idempotency key answers as the first time and stores nothing new.
    """
    if idempotency_key:
        first = _answer_for(owner=owner, key=idempotency_key)
        if first is not None:
            return first
    try:
        return _record(
            owner=owner, user_id=user_id, type=type, amount=amount, time=time, idempotency_key=idempotency_key
        )
    except IntegrityError:
        first = _answer_for(owner=owner, key=idempotency_key) if idempotency_key else None
        if first is None:
            raise
        return first  # the same key raced itself; the first one stored answers both


def _answer_for(*, owner, key: str) -> Answer | None:
    stored = Transaction.objects.filter(owner=owner, idempotency_key=key).values_list("answer", flat=True).first()
    return Answer(**stored) if stored is not None else None


@transaction.atomic
def _record(*, owner, user_id: int, type: str, amount: Decimal, time: int, idempotency_key: str) -> Answer:
    # Serialise this customer's transactions: two at once must neither both miss nor both
    # double-count a rule.
    customer_id = _lock_customer(owner_id=owner.pk, external_id=user_id)
    # The rules are evaluated before the insert, on the history plus this transaction, which is the
    # latest arrival: the answer is stored with the row, no second write.
    new = Transaction(
        owner=owner, customer_id=customer_id, type=type, amount=amount, time=time, idempotency_key=idempotency_key
    )
    fired: list[tuple[AlertRule, list[Transaction]]] = []
    rules = enabled_rules(type)
    history = _lookbacks(rules, new)
    for rule in rules:
        evidence = _evaluate(rule, new, history.get(rule.pk, []))
        if evidence:
            fired.append((rule, evidence))
    codes = list(dict.fromkeys(rule.code for rule, _ in fired))
    answer = Answer(alert=bool(codes), alert_codes=codes, user_id=user_id)
    new.answer = answer.as_dict()
    _store(new, fired)
    return dataclasses.replace(answer, transaction_id=new.pk)


def transaction_evidence(*, transaction_id: int) -> dict[str, list[dict]]:
    """Per alert code the transaction fired, the transactions that made it fire, oldest first."""
    alerts = TransactionAlert.objects.filter(transaction_id=transaction_id).prefetch_related("evidence")
    return {
        str(alert.code): [
            {"id": tx.pk, "type": tx.type, "amount": str(tx.amount), "time": tx.time}
            for tx in sorted(alert.evidence.all(), key=lambda tx: (tx.time, tx.pk))
        ]
        for alert in alerts.order_by("id")
    }


def _lock_customer(*, owner_id: int, external_id: int) -> int:
    """The customer's id, with its row locked until the transaction ends; the row is created on
    first sight. One statement either way (the lock is the upsert's), where a look-up, then a
    savepoint, an insert and a release for a new customer took one to four round trips."""
    table = Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (owner_id, external_id) VALUES (%s, %s) ON CONFLICT (owner_id, external_id)"
            " DO UPDATE SET external_id = excluded.external_id RETURNING id",
            [owner_id, external_id],
        )
        return cursor.fetchone()[0]


@cache
def _insert_sql() -> tuple[str, list]:
    fields = [field for field in Transaction._meta.concrete_fields if not field.primary_key]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {Transaction._meta.db_table} ({columns}) VALUES ({placeholders}) RETURNING id", fields


def _insert_params(tx: Transaction) -> list:
    """The values of `_insert_sql()`: each field prepares its own (auto_now_add, decimals, JSON), as
    the ORM's insert would."""
    _, fields = _insert_sql()
    return [field.get_db_prep_save(field.pre_save(tx, add=True), connection) for field in fields]


def _insert_returning_id(tx: Transaction, sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        tx.pk = cursor.fetchone()[0]
    tx._state.adding, tx._state.db = False, connection.alias


def _insert(tx: Transaction) -> None:
    """`tx.save(force_insert=True)` without compiling the ORM's insert on every call."""
    _insert_returning_id(tx, _insert_sql()[0], _insert_params(tx))


def _store(tx: Transaction, fired: list[tuple[AlertRule, list[Transaction]]]) -> None:
    """Insert the transaction and, for each fired rule, its alert and the links to its evidence. On
    PostgreSQL that is one statement whatever fired (data-modifying WITH); elsewhere one per table."""
    if fired and connection.vendor == "postgresql":
        _store_in_one_statement(tx, fired)
        return
    _insert(tx)
    if fired:
        alerts = TransactionAlert.objects.bulk_create(
            TransactionAlert(
                owner_id=tx.owner_id, customer_id=tx.customer_id, transaction=tx, rule=rule, code=rule.code
            )
            for rule, _ in fired
        )
        through = TransactionAlert.evidence.through
        through.objects.bulk_create(
            through(transactionalert_id=alert.pk, transaction_id=evidence_tx.pk)
            for alert, (_, evidence) in zip(alerts, fired, strict=True)
            for evidence_tx in evidence
        )


def _store_in_one_statement(tx: Transaction, fired: list[tuple[AlertRule, list[Transaction]]]) -> None:
    insert_tx, tx_params = _insert_sql()[0], _insert_params(tx)
    alert_rows, alert_params, evidence_rows, evidence_params = [], [], [], []
    for position, (rule, evidence) in enumerate(fired):
        alert_rows.append("(%s::bigint, %s::integer, %s::integer)")
        alert_params += [rule.pk, rule.code, position]
        for evidence_tx in evidence:
            evidence_rows.append("(%s::bigint, %s::bigint)")
            evidence_params += [rule.pk, evidence_tx.pk]  # None for `tx` itself, whose id the insert makes
    alert_table, through = TransactionAlert._meta.db_table, TransactionAlert.evidence.through
    sql = f"""
        WITH new_tx AS ({insert_tx}),
        new_alert AS (
            INSERT INTO {alert_table} (owner_id, customer_id, transaction_id, rule_id, code, created_at)
            SELECT %s, %s, new_tx.id, fired.rule_id, fired.code, %s
            FROM new_tx CROSS JOIN (VALUES {", ".join(alert_rows)}) AS fired (rule_id, code, position)
            ORDER BY fired.position
            RETURNING id, rule_id
        ),
        new_evidence AS (
            INSERT INTO {through._meta.db_table} (transactionalert_id, transaction_id)
            SELECT new_alert.id, COALESCE(evidence.transaction_id, new_tx.id)
            FROM new_alert
            JOIN (VALUES {", ".join(evidence_rows)}) AS evidence (rule_id, transaction_id) USING (rule_id)
            CROSS JOIN new_tx
        )
        SELECT id FROM new_tx
    """
    alert_created_at = TransactionAlert._meta.get_field("created_at").get_db_prep_save(tx.created_at, connection)
    params = [*tx_params, tx.owner_id, tx.customer_id, alert_created_at, *alert_params, *evidence_params]
    _insert_returning_id(tx, sql, params)


def enabled_rules(transaction_type: str) -> list[AlertRule]:
    """The enabled rules for a transaction type, in answer order.

    Kept per process for RULES_CACHE_SECONDS: every transaction needs them, and they change rarely.
    An edit clears this process's copy at once (alerts.apps connects the signals); other processes
    see it within RULES_CACHE_SECONDS.
    """
    now = time_module.monotonic()
    cached = _rules_cache.get(transaction_type)
    if cached is not None and now - cached[0] < RULES_CACHE_SECONDS:
        return cached[1]
    rules = list(AlertRule.objects.filter(enabled=True, transaction_type=transaction_type).order_by("priority", "code"))
    _rules_cache[transaction_type] = (now, rules)
    return rules


def rules_cache_clear(**_signal_kwargs) -> None:
    _rules_cache.clear()


def _lookback(rule: AlertRule, tx: Transaction) -> tuple[str, list, int | None] | None:
    """What `rule` reads of the customer's history before `tx`: (extra condition, its parameters,
    how many of the latest rows or None for all), or None when it reads nothing."""
    if rule.kind == AlertRule.Kind.CONSECUTIVE_TYPE and rule.count > 1:
        return "", [], rule.count - 1
    if rule.kind == AlertRule.Kind.INCREASING_SERIES and rule.count > 1:
        return ' AND "type" = %s', [rule.transaction_type], rule.count - 1
    if rule.kind == AlertRule.Kind.WINDOW_SUM:
        return ' AND "type" = %s AND "time" >= %s', [rule.transaction_type, tx.time - rule.window_seconds], None
    return None


def _lookbacks(rules: list[AlertRule], tx: Transaction) -> dict[int, list[Transaction]]:
    """Every rule's look-back in one round trip: {rule id: the customer's stored transactions at or
    before `tx`'s time that the rule reads, latest first}. `tx` is not stored yet and arrives last,
    so among equal times it comes after all of these. Each part is a bounded look-back or one
    window on the alerts_tx_history(_type) indexes."""
    table = Transaction._meta.db_table
    parts, params = [], []
    for rule in rules:
        lookback = _lookback(rule, tx)
        if lookback is None:
            continue
        condition, condition_params, latest = lookback
        limit = f" LIMIT {int(latest)}" if latest is not None else ""
        parts.append(
            f'SELECT * FROM (SELECT {int(rule.pk)} AS rule_id, id, "type", amount, "time" FROM {table}'
            f' WHERE customer_id = %s AND "time" <= %s{condition} ORDER BY "time" DESC, id DESC{limit})'
            f" AS lookback_{len(parts)}"
        )
        params += [tx.customer_id, tx.time, *condition_params]
    history: dict[int, list[Transaction]] = {}
    if parts:
        for row in Transaction.objects.raw(" UNION ALL ".join(parts), params):
            history.setdefault(row.rule_id, []).append(row)
    for rows in history.values():
        rows.sort(key=lambda t: (t.time, t.pk), reverse=True)
    return history


def _evaluate(rule: AlertRule, tx: Transaction, history: list[Transaction]) -> list[Transaction]:
    """The transactions that make `rule` fire on `tx` (not yet stored), or [] when it does not;
    `history` is what `_lookback` asked for, latest first."""
    if rule.kind == AlertRule.Kind.AMOUNT_OVER:
        return [tx] if tx.amount > rule.threshold else []
    if rule.kind == AlertRule.Kind.CONSECUTIVE_TYPE:
        latest = [tx, *history[: rule.count - 1]]
        if len(latest) == rule.count and all(t.type == rule.transaction_type for t in latest):
            return latest
        return []
    if rule.kind == AlertRule.Kind.INCREASING_SERIES:
        latest = [tx, *history[: rule.count - 1]]
        oldest_first = latest[::-1]
        increasing = all(a.amount < b.amount for a, b in itertools.pairwise(oldest_first))
        return oldest_first if len(latest) == rule.count and increasing else []
    if rule.kind == AlertRule.Kind.WINDOW_SUM:
        window = history[::-1]
        total = sum((t.amount for t in window), tx.amount)
        return [*window, tx] if total > rule.threshold else []
    return []
