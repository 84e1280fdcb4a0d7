from celery import shared_task

from events import services


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
