"""The dispatcher's watchdog: slots are due and nothing fires.

`dispatcher_status` is what /api/ready/ reports as its `dispatcher` check (read-only, works without
beat or a worker). `dispatcher_watch`, run by beat's `triggers.watchdog` task, e-mails staff once when
the dispatcher stops and once when it fires again (and re-publishes the trigger notices the broker
lost: notify.py). That e-mail needs beat, the broker and a worker on
the default queue: when beat itself is what died, only /api/ready/ (`beat` failing, `dispatcher`
degraded) and the dashboard say so.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max, Min

from eventsys import clock
from eventsys.publish import publish_many
from triggers.models import DispatcherWatch, ExecutionLog, Trigger
from triggers.services.notify import notices_resend_owed

logger = logging.getLogger(__name__)
WATCH = "dispatcher"


def dispatcher_status(*, now: datetime) -> tuple[bool, str]:
    """(stopped, in words). Stopped: an active trigger's slot has been due longer than
    WATCHDOG_GRACE_SECONDS and no scheduled firing was logged in that time either. One query while
    nothing is overdue (the triggers_due index), two otherwise."""
    grace = timedelta(seconds=settings.WATCHDOG_GRACE_SECONDS)
    oldest = Trigger.objects.filter(status=Trigger.Status.ACTIVE).aggregate(first=Min("next_run_at"))["first"]
    if oldest is None or oldest > now - grace:
        return False, "no slot overdue"
    overdue = (now - oldest).total_seconds()
    last = ExecutionLog.objects.filter(source=ExecutionLog.Source.SCHEDULE).aggregate(last=Max("created_at"))["last"]
    if last is not None and last >= now - grace:
        age = max((now - last).total_seconds(), 0)
        return False, f"behind: a slot due {overdue:.0f} s ago waits; the last firing was logged {age:.0f} s ago"
    since = "none logged yet" if last is None else f"the last logged {(now - last).total_seconds():.0f} s ago"
    return True, f"stopped: a slot has been due for {overdue:.0f} s and nothing fired ({since})"


def dispatcher_watch(*, now: datetime | None = None) -> bool:
    """Compare the dispatcher's status with what staff were last told; on a change, tell them (once:
    the change is a conditional UPDATE, so watchdogs running side by side send one e-mail). Returns
    whether the dispatcher is stopped."""
    now = now or clock.database_now()
    notices_resend_owed(now=now)  # notices the broker lost: the watchdog's other duty (notify.py)
    stopped, detail = dispatcher_status(now=now)
    with transaction.atomic():
        DispatcherWatch.objects.get_or_create(name=WATCH, defaults={"stopped": False, "changed_at": now})
        changed = DispatcherWatch.objects.filter(name=WATCH, stopped=not stopped).update(
            stopped=stopped, detail=detail[:500], changed_at=now
        )
        if changed:
            logger.warning("dispatcher %s: %s", "stopped" if stopped else "recovered", detail)
            transaction.on_commit(lambda: watchdog_email_enqueue(stopped=stopped, detail=detail, at=now))
    return stopped


def watchdog_email_enqueue(*, stopped: bool, detail: str, at: datetime) -> bool:
    from triggers.tasks import watchdog_email

    return publish_many([(watchdog_email, (stopped, detail, at.isoformat()))], what="watchdog e-mail (lost)")


def watchdog_recipients() -> list[str]:
    """WATCHDOG_EMAILS, else every active staff user's address."""
    if settings.WATCHDOG_EMAILS:
        return list(settings.WATCHDOG_EMAILS)
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="")
    return sorted(set(staff.values_list("email", flat=True)))


def watchdog_email_send(*, stopped: bool, detail: str, at: str) -> int:
    """E-mail staff that the dispatcher stopped or fired again; how many were e-mailed."""
    recipients = watchdog_recipients()
    if not recipients:
        logger.warning("dispatcher %s, and nobody to e-mail (no WATCHDOG_EMAILS, no staff e-mail)", detail)
        return 0
    if stopped:
        subject = "[eventsys] The trigger dispatcher has stopped"
        text = (
            f"Since {at}: {detail}.\n\nCheck `celery beat` and the worker consuming the `system` queue "
            "(/api/ready/ names what is down). You will be told once when triggers fire again.\n"
        )
    else:
        subject = "[eventsys] The trigger dispatcher fires again"
        text = f"Since {at}: {detail}.\n"
    send_mail(subject=subject, message=text, from_email=None, recipient_list=recipients)
    return len(recipients)
