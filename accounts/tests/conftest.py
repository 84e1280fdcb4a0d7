import pytest


@pytest.fixture(autouse=True)
def password_reset_requests_run_at_once(monkeypatch):
    """A reset request's message is run here and now, as a worker would run it: its e-mails land in
    mail.outbox before the request's answer is looked at."""

    def run(messages, *, what):
        for task, args in messages:
            task.run(*args)
        return True

    monkeypatch.setattr("accounts.services.publish_many", run)
