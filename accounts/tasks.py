from celery import shared_task

from accounts.services import login_lockouts_prune


@shared_task(name="accounts.prune_login_lockouts", acks_late=True, soft_time_limit=60, time_limit=90)
def prune_login_lockouts() -> int:
    return login_lockouts_prune()
