from celery import shared_task

from accounts.services import login_lockouts_prune, user_password_reset_emails_send


@shared_task(name="accounts.prune_login_lockouts", acks_late=True, soft_time_limit=60, time_limit=90)
def prune_login_lockouts() -> int:
    return login_lockouts_prune()


@shared_task(name="accounts.send_password_reset_emails", acks_late=True, soft_time_limit=60, time_limit=90)
def send_password_reset_emails(email: str, site: str) -> int:
    """The reset e-mails of one request (accounts.services.user_password_reset_request)."""
    return user_password_reset_emails_send(email=email, site=site)
