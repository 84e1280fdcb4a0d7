import logging

from celery import shared_task
from django.conf import settings

from events import ingestion, services
from events.propagator import propagator_batch, propagator_send

logger = logging.getLogger(__name__)


@shared_task(
    name="events.send_promotion_email",
    bind=True,
    acks_late=True,
    max_retries=8,
    soft_time_limit=30,
    time_limit=45,
)
def send_promotion_email(self, attendee_id: int) -> bool:
    """Tell a waitlisted person they got a seat. Idempotent (a sent-at stamp); retried on SMTP failure."""
    try:
        return services.attendee_promotion_email_send(attendee_id=attendee_id)
    except OSError as exc:  # smtplib errors and connection failures are OSErrors
        raise self.retry(exc=exc, countdown=min(30 * 2**self.request.retries, 600)) from exc


@shared_task(name="events.propagate", bind=True, acks_late=True, max_retries=3, soft_time_limit=30, time_limit=45)
def propagate(self, body=None) -> dict:
    """Send one batch of events to PROPAGATOR_URL; a transient failure resends the same body (same
    idempotency keys, so the receiver stores it once)."""
    if not settings.PROPAGATOR_URL:
        logger.warning("the propagator is enabled but PROPAGATOR_URL is empty; nothing sent")
        return {"sent": False, "error": "PROPAGATOR_URL is not set"}
    body = propagator_batch() if body is None else body
    outcome = propagator_send(url=settings.PROPAGATOR_URL, token=settings.PROPAGATOR_TOKEN, body=body)
    if outcome.kind == "retry" and self.request.retries < self.max_retries:
        countdown = min(outcome.retry_after or 2**self.request.retries, settings.PROPAGATOR_INTERVAL_SECONDS)
        raise self.retry(kwargs={"body": body}, countdown=countdown)
    if not outcome.delivered:
        logger.warning("propagator send failed: %s", outcome.error)
    return {"sent": outcome.delivered, "status": outcome.status_code, "error": outcome.error}


@shared_task(name="events.ingest_retention", acks_late=True, soft_time_limit=240, time_limit=300)
def ingest_retention() -> int:
    return ingestion.ingested_events_retention_apply()
