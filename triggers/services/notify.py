"""Lateness and failure notices: a trigger with a threshold tells its owner when it turns late or
failing, and when it recovers; never again while its state stays (no flood).

States (`Trigger.alert_state`) and what moves them:

- ok → late: the dispatcher logs a slot more than `late_after_seconds` after it was due;
- late → ok: the dispatcher logs a slot within `late_after_seconds`;
- ok | late → failing: `failing_after` deliveries in a row failed (counted where the failure is);
- failing → ok: a delivery succeeded.

Failing outranks late: a failing trigger's late slots say nothing until a delivery succeeds.

Every change is a conditional UPDATE (`… WHERE alert_state = <the state it leaves>`), so of two
workers deciding the same change at once exactly one changes the row and sends its notice. Notices
are published once the change has committed (`transaction.on_commit`), to the `triggers.notify`
task: the dispatcher and the deliveries never wait for an SMTP server or a receiver, and a broker
outage is logged, not raised. The notice is stored with the change (`Trigger.alert_notice`) until a
worker takes it; one the broker lost is published again by `notices_resend_owed` (the watchdog
task, every 30 s), under the same id, and a copy that arrives after another was taken sends nothing.
A notice still untaken when the state changes again is replaced by the newer one.
"""

import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import connection, transaction

from eventsys.http import post_json
from eventsys.publish import publish_many
from triggers.models import Trigger

logger = logging.getLogger(__name__)

OK, LATE, FAILING = Trigger.AlertState.OK, Trigger.AlertState.LATE, Trigger.AlertState.FAILING
EMAIL, WEBHOOK = "email", "webhook"
# A notice no worker has taken this long after its change is published again (notices_resend_owed).
OWED_AFTER = timedelta(minutes=2)
# What a notice's `event` says, by the state entered.
EVENTS = {LATE: "trigger.late", FAILING: "trigger.failing", OK: "trigger.recovered"}


@dataclass(frozen=True)
class Notice:
    """One change of a trigger's alert state, as sent (JSON) to its owner."""

    id: str  # also the webhook's X-Eventsys-Delivery: the same on every retry of one notice
    event: str
    trigger: int
    state: str
    previous: str
    reason: str
    at: str  # ISO 8601, UTC

    @classmethod
    def of(cls, *, trigger_id: int, state: str, previous: str, reason: str, at: datetime) -> "Notice":
        return cls(str(uuid.uuid4()), EVENTS[state], trigger_id, state, previous, reason, at.isoformat())


def lateness_evaluate(slots: list[tuple[int, str, int, datetime]], *, now: datetime) -> list[Notice]:
    """The dispatcher logged these slots at `now`: (trigger id, alert state as claimed, late_after_seconds,
    slot due) of the triggers with a lateness threshold only. No query unless a state changes; then one."""
    changes: dict[int, tuple[str, str, str]] = {}
    for trigger_id, state, late_after, due in slots:
        lateness = (now - due).total_seconds()
        if lateness > late_after and state == OK:
            reason = f"the slot due {due.isoformat()} was logged {lateness:.1f} s late (limit {late_after} s)"
            changes[trigger_id] = (OK, LATE, reason)
        elif lateness <= late_after and state == LATE:
            reason = f"the slot due {due.isoformat()} was logged {max(lateness, 0):.1f} s after it was due"
            changes[trigger_id] = (LATE, OK, reason)
    return alert_states_change(changes, now=now)


def recovery_evaluate(trigger_ids: set[int], *, now: datetime) -> list[Notice]:
    """Deliveries of these triggers (failing as loaded with their logs) succeeded: one UPDATE."""
    return alert_states_change({pk: (FAILING, OK, "a delivery succeeded") for pk in trigger_ids}, now=now)


def failing_reached(trigger: Trigger, *, error: str, now: datetime) -> Notice | None:
    """`trigger` (locked, its failure just counted) reached its failing_after: set its state (the caller
    saves `alert_state`, `alert_changed_at` and `alert_notice`) and return the notice, sent once the
    caller commits."""
    if trigger.failing_after is None or trigger.consecutive_failures < trigger.failing_after:
        return None
    if trigger.alert_state == FAILING:
        return None
    previous, trigger.alert_state, trigger.alert_changed_at = trigger.alert_state, FAILING, now
    reason = f"{trigger.consecutive_failures} deliveries in a row failed; the last: {error}"
    if trigger.status == Trigger.Status.DISABLED:
        reason += "; the trigger is disabled (resume it once the receiver is fixed)"
    notice = Notice.of(trigger_id=trigger.pk, state=FAILING, previous=previous, reason=reason[:500], at=now)
    trigger.alert_notice = asdict(notice)
    notices_send_on_commit([notice])
    return notice


def alert_states_change(changes: dict[int, tuple[str, str, str]], *, now: datetime) -> list[Notice]:
    """Apply {trigger id: (from, to, reason)} in one conditional UPDATE … RETURNING: a row whose state is
    no longer `from` (another worker moved it) is left alone and sends nothing. Returns the notices of
    the rows changed, published once the transaction commits."""
    if not changes:
        return []
    candidates = {
        pk: Notice.of(trigger_id=pk, state=new, previous=old, reason=reason, at=now)
        for pk, (old, new, reason) in changes.items()
    }
    groups: dict[tuple[str, str], list[int]] = {}
    for pk, (old, new, _) in changes.items():
        groups.setdefault((old, new), []).append(pk)
    states, wheres, state_params, where_params = [], [], [], []
    for (old, new), ids in groups.items():
        marks = ", ".join(["%s"] * len(ids))
        states.append(f"WHEN id IN ({marks}) THEN %s")
        state_params += [*ids, new]
        wheres.append(f"(id IN ({marks}) AND alert_state = %s)")
        where_params += [*ids, old]
    as_json = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    notices_sql = " ".join(f"WHEN id = %s THEN {as_json}" for _ in candidates)
    notice_params = [value for pk, notice in candidates.items() for value in (pk, json.dumps(asdict(notice)))]
    sql = f"""
        UPDATE {Trigger._meta.db_table}
        SET alert_state = CASE {" ".join(states)} ELSE alert_state END, alert_changed_at = %s,
            alert_notice = CASE {notices_sql} ELSE alert_notice END
        WHERE {" OR ".join(wheres)}
        RETURNING id
    """
    params = [*state_params, connection.ops.adapt_datetimefield_value(now), *notice_params, *where_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed = sorted(row[0] for row in cursor.fetchall())
    notices = [candidates[pk] for pk in changed]
    notices_send_on_commit(notices)
    return notices


def notices_resend_owed(*, now: datetime, older_than: timedelta = OWED_AFTER, limit: int = 500) -> int:
    """Publish again the notices no worker has taken OWED_AFTER after their change (the broker lost
    them, or the queue is deep: then the copy that arrives second sends nothing). How many were sent."""
    owed = (
        Trigger.objects.filter(alert_notice__isnull=False, alert_changed_at__lt=now - older_than)
        .order_by("alert_changed_at")
        .values_list("alert_notice", flat=True)[:limit]
    )
    notices = [Notice(**notice) for notice in owed]
    if notices:
        notices_enqueue(notices)
    return len(notices)


def notices_send_on_commit(notices: list[Notice]) -> None:
    if notices:
        transaction.on_commit(lambda: notices_enqueue(notices))


def notices_enqueue(notices: list[Notice]) -> bool:
    """Publish one `triggers.notify` message per notice; a broker outage is logged, never raised."""
    from triggers.tasks import notify

    return publish_many(((notify, (asdict(notice),)) for notice in notices), what="trigger notices (lost)")


def notice_send(*, notice: dict, channels: list[str] | None = None) -> list[str]:
    """Send one notice to the trigger's current recipients (`channels`: only these, on a retry).
    Returns the channels to try again later (an SMTP error; a receiver's 5xx, 429 or timeout)."""
    if channels is None:
        # The first try takes the notice: a second copy (re-published by notices_resend_owed while this
        # one waited in the queue), or a notice a newer change replaced, finds nothing to take.
        taken = Trigger.objects.filter(pk=notice["trigger"], alert_notice__id=notice["id"]).update(alert_notice=None)
        if not taken:
            return []
    trigger = Trigger.objects.filter(pk=notice["trigger"]).first()
    if trigger is None:
        return []  # deleted meanwhile: nobody to tell
    body = {**notice, "name": trigger.name}
    retry = []
    wanted = set(channels or (EMAIL, WEBHOOK))
    if EMAIL in wanted and trigger.notify_email:
        try:
            send_mail(
                subject=_subject(body),
                message=_email_text(body),
                from_email=None,
                recipient_list=[trigger.notify_email],
            )
        except OSError:  # smtplib errors and refused connections
            logger.warning("could not e-mail notice %s of trigger %s", notice["id"], trigger.pk, exc_info=True)
            retry.append(EMAIL)
    if WEBHOOK in wanted and trigger.notify_url:
        payload = json.dumps(body, separators=(",", ":")).encode()
        outcome = post_json(trigger.notify_url, payload, delivery_id=notice["id"], secret=trigger.signing_secret)
        if outcome.kind == "retry":
            retry.append(WEBHOOK)
        elif not outcome.delivered:
            logger.warning("notice %s of trigger %s refused: %s", notice["id"], trigger.pk, outcome.error)
    return retry


def _subject(notice: dict) -> str:
    what = {LATE: "is late", FAILING: "is failing", OK: "has recovered"}[notice["state"]]
    name = " ".join(notice["name"].split())  # a name may hold line breaks; a mail header may not
    return f"[eventsys] Trigger “{name}” {what}"[:200]


def _email_text(notice: dict) -> str:
    return (
        f"Trigger “{notice['name']}” (id {notice['trigger']}) went from {notice['previous']} to "
        f"{notice['state']} at {notice['at']}:\n{notice['reason']}.\n\n"
        "You are told once per change; nothing more is sent while this state lasts. The thresholds and\n"
        f"recipients are the trigger's late_after_seconds, failing_after, notify_email and notify_url\n"
        f"(/api/v1/triggers/{notice['trigger']}/).\n"
    )
