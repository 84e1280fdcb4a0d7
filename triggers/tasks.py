from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings

from eventsys import clock
from triggers import services


@shared_task(name="triggers.dispatch", acks_late=True, soft_time_limit=50, time_limit=60)
def dispatch() -> dict:
    """Beat sends this every second; several may run at once and split the due rows between them."""
    horizon = timedelta(milliseconds=settings.TRIGGER_DISPATCH_HORIZON_MS)
    result = services.dispatch_due_until(deadline=clock.database_now() + horizon)
    return {"fired": result.fired, "skipped": result.skipped}


@shared_task(name="triggers.deliver", acks_late=True, soft_time_limit=30, time_limit=45)
def deliver(delivery_id: str) -> str:
    """One attempt of one delivery. Idempotent: a duplicate message finds nothing due and returns."""
    return services.delivery_attempt(delivery_id=delivery_id)


@shared_task(name="triggers.deliver_many", acks_late=True, soft_time_limit=600, time_limit=660)
def deliver_many(delivery_ids: list[str]) -> dict:
    """One attempt of each of several deliveries, sent side by side (how a burst is enqueued; see enqueue.py)."""
    return dict(services.deliveries_attempt(delivery_ids=delivery_ids))


@shared_task(name="triggers.sweep", acks_late=True, soft_time_limit=50, time_limit=60)
def sweep() -> int:
    """Beat sends this every 5 s: re-send lost deliveries, then probe the delivery queue (behind them)."""
    from triggers.services.enqueue import delivery_queue_probe_send

    requeued = services.deliveries_requeue()  # its re-sends are published when it commits, before the probe
    delivery_queue_probe_send()
    return requeued


@shared_task(name="triggers.queue_probe", acks_late=True, soft_time_limit=10, time_limit=20)
def queue_probe(queue: str, sent_at: str) -> None:
    """Sent by the sweeper through the delivery queue: records that the queue was consumed through `sent_at`."""
    from triggers.services.delivery import delivery_queue_mark

    delivery_queue_mark(queue=queue, sent_at=datetime.fromisoformat(sent_at))


@shared_task(name="triggers.retention", acks_late=True, soft_time_limit=240, time_limit=300)
def retention() -> dict:
    result = services.logs_retention_apply()
    return {"archived": result.archived, "deleted": result.deleted}


@shared_task(name="triggers.notify", bind=True, acks_late=True, max_retries=8, soft_time_limit=30, time_limit=45)
def notify(self, notice: dict, channels: list[str] | None = None) -> list[str]:
    """Tell a trigger's owner that its alert state changed (e-mail and/or signed webhook; notify.py).
    A channel that failed for a passing reason is retried alone, with back-off, under the same notice id."""
    from triggers.services.notify import notice_send

    retry = notice_send(notice=notice, channels=channels)
    if retry:
        if self.request.retries >= self.max_retries:
            return retry  # given up; notice_send logged each failure
        raise self.retry(args=(notice, retry), countdown=min(30 * 2**self.request.retries, 900))
    return []


@shared_task(name="triggers.watchdog", acks_late=True, soft_time_limit=20, time_limit=30)
def watchdog() -> bool:
    """Beat sends this every 30 s: staff are e-mailed once when the dispatcher stops, once when it recovers."""
    from triggers.services.watchdog import dispatcher_watch

    return dispatcher_watch()


@shared_task(
    name="triggers.watchdog_email", bind=True, acks_late=True, max_retries=8, soft_time_limit=30, time_limit=45
)
def watchdog_email(self, stopped: bool, detail: str, at: str) -> int:
    """The watchdog's e-mail to staff; retried on SMTP failure."""
    from triggers.services.watchdog import watchdog_email_send

    try:
        return watchdog_email_send(stopped=stopped, detail=detail, at=at)
    except OSError as exc:
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 600)) from exc
