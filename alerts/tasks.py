from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from alerts.services import polling, price_alerts


@shared_task(name="alerts.poll_prices", acks_late=True, soft_time_limit=120, time_limit=150)
def poll_prices() -> dict:
    """Beat sends this every PRICE_POLL_SECONDS: one batched poll for every live alert."""
    result = polling.price_poll()
    return {"pairs": result.pairs, "calls": result.calls, "triggered": len(result.triggered), "skipped": result.skipped}


@shared_task(name="alerts.refresh_coins", acks_late=True, soft_time_limit=120, time_limit=150)
def refresh_coins() -> int:
    return price_alerts.coins_refresh()


@shared_task(
    name="alerts.send_price_alert_email", bind=True, acks_late=True, max_retries=8, soft_time_limit=30, time_limit=45
)
def send_price_alert_email(self, alert_id: int, trigger_count: int) -> bool:
    """Idempotent (a claimed sent stamp); retried on SMTP failure."""
    try:
        return price_alerts.price_alert_email_send(alert_id=alert_id, trigger_count=trigger_count)
    except OSError as exc:  # smtplib errors and connection failures are OSErrors
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 600)) from exc


# Sent by a poll that triggered a burst, and by beat every few minutes for e-mails whose message was lost.
@shared_task(name="alerts.fan_out_price_alert_emails", acks_late=True, soft_time_limit=120, time_limit=150)
def fan_out_price_alert_emails(older_than_seconds: int | None = None) -> int:
    older_than = timezone.now() - timedelta(seconds=older_than_seconds) if older_than_seconds is not None else None
    return polling.price_alert_emails_fan_out(older_than=older_than)


@shared_task(name="alerts.send_price_alert_emails", acks_late=True, soft_time_limit=600, time_limit=660)
def send_price_alert_emails(triggerings: list[list[int]]) -> int:
    """The e-mails of several triggerings ([alert id, trigger count] each), in turn: how a poll's burst is
    enqueued. One that fails goes on as a task of its own, with send_price_alert_email's retries."""
    sent = 0
    for alert_id, trigger_count in triggerings:
        try:
            sent += price_alerts.price_alert_email_send(alert_id=alert_id, trigger_count=trigger_count)
        except OSError:
            send_price_alert_email.apply_async((alert_id, trigger_count), countdown=30)
    return sent
