import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections

from alerts.models import PriceAlert, PriceTick, ProviderState
from alerts.services.polling import alerts_trigger_crossed, price_poll
from alerts.services.price_alerts import price_alert_create, price_alert_email_send
from alerts.tasks import send_price_alert_email

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def emails(monkeypatch):
    """What the poll enqueues; run() sends them as a worker would."""
    sent = []
    monkeypatch.setattr(send_price_alert_email, "delay", lambda pk, count: sent.append((pk, count)))
    return sent


def alert(owner, coin="bitcoin", target="50000", direction="above", **fields) -> PriceAlert:
    return price_alert_create(owner=owner, coin=coin, target_price=Decimal(target), direction=direction, **fields)


def poll(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return price_poll()


@pytest.mark.django_db
def test_one_call_serves_three_coins_and_fifty_alerts(
    alice, bob, coingecko, emails, django_capture_on_commit_callbacks
):
    coingecko.prices = {"bitcoin": {"usd": "60000"}, "ethereum": {"usd": "3000"}, "solana": {"usd": "150"}}
    for i in range(50):
        coin = ("bitcoin", "ethereum", "solana")[i % 3]
        alert(alice if i % 2 else bob, coin=coin, target=str(10**6 + i))  # far above: none fire
    result = poll(django_capture_on_commit_callbacks)
    [call] = coingecko.price_calls()
    assert sorted(call["query"]["ids"].split(",")) == ["bitcoin", "ethereum", "solana"]
    assert call["query"]["vs_currencies"] == "usd" and call["query"]["include_last_updated_at"] == "true"
    assert (result.pairs, result.calls, result.quotes) == (3, 1, 3)
    assert PriceTick.objects.count() == 3


@pytest.mark.django_db
def test_crossing_above_and_below_triggers_once_and_emails(
    alice, coingecko, emails, django_capture_on_commit_callbacks
):
    up = alert(alice, target="60000", direction="above")
    down = alert(alice, target="55000", direction="below")
    waiting = alert(alice, target="70000", direction="above")
    coingecko.prices = {"bitcoin": {"usd": "57000.5"}}
    poll(django_capture_on_commit_callbacks)  # between the targets: nothing
    assert PriceAlert.objects.filter(status="triggered").count() == 0
    coingecko.prices = {"bitcoin": {"usd": "60000"}}  # exactly the target counts
    poll(django_capture_on_commit_callbacks)
    up.refresh_from_db()
    assert up.status == "triggered" and up.triggered_price == Decimal("60000")
    assert up.price_before == Decimal("57000.5") and up.triggered_at == NOW
    coingecko.prices = {"bitcoin": {"usd": "54999.99"}}
    poll(django_capture_on_commit_callbacks)
    down.refresh_from_db()
    waiting.refresh_from_db()
    assert down.status == "triggered" and waiting.status == "created"
    assert [pk for pk, _ in emails] == [up.pk, down.pk]


@pytest.mark.django_db
def test_an_alert_already_past_its_target_triggers_on_the_next_poll(
    alice, coingecko, emails, django_capture_on_commit_callbacks
):
    coingecko.prices = {"bitcoin": {"usd": "65000"}}
    past = alert(alice, target="60000", direction="above")
    poll(django_capture_on_commit_callbacks)
    past.refresh_from_db()
    assert past.status == "triggered"


@pytest.mark.django_db
def test_the_email_names_coin_direction_target_and_observed_price(
    alice, coingecko, emails, django_capture_on_commit_callbacks
):
    coingecko.prices = {"bitcoin": {"usd": "61234.5678"}}
    coingecko.updated_at = int((NOW - timedelta(seconds=30)).timestamp())
    target = alert(alice, target="60000")
    poll(django_capture_on_commit_callbacks)
    for pk, count in emails:
        send_price_alert_email.run(pk, count)
        send_price_alert_email.run(pk, count)  # a redelivered task sends nothing more
    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "bitcoin has risen to 61234.5678 USD"
    assert "bitcoin above 60000 USD" in message.body and "2026-11-23 11:59:30 UTC" in message.body
    target.refresh_from_db()
    assert target.notified_at is not None


@pytest.mark.django_db
def test_a_failed_send_releases_the_stamp_for_the_retry(
    alice, coingecko, emails, django_capture_on_commit_callbacks, monkeypatch
):
    coingecko.prices = {"bitcoin": {"usd": "61000"}}
    target = alert(alice, target="60000")
    poll(django_capture_on_commit_callbacks)

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("alerts.services.price_alerts.send_mail", smtp_down)
    with pytest.raises(ConnectionRefusedError):
        price_alert_email_send(alert_id=target.pk, trigger_count=1)
    target.refresh_from_db()
    assert target.notified_at is None
    monkeypatch.undo()
    assert price_alert_email_send(alert_id=target.pk, trigger_count=1) is True


@pytest.mark.django_db
def test_a_second_poll_with_the_same_price_triggers_nothing_more(
    alice, coingecko, emails, django_capture_on_commit_callbacks
):
    coingecko.prices = {"bitcoin": {"usd": "61000"}}
    alert(alice, target="60000")
    poll(django_capture_on_commit_callbacks)
    poll(django_capture_on_commit_callbacks)
    assert len(emails) == 1 and PriceAlert.objects.get().trigger_count == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="racing transactions need PostgreSQL (CI runs this)")
def test_two_racing_polls_trigger_an_alert_once(alice, coingecko, emails):
    alerts = [alert(alice, target=str(50000 + i)) for i in range(50)]
    barrier = threading.Barrier(2)
    fired = []

    def poll_once():
        try:
            barrier.wait(timeout=10)
            fired.append(
                alerts_trigger_crossed(
                    coin="bitcoin", currency="usd", price=Decimal("60000"), price_time=NOW, price_before=None, now=NOW
                )
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=poll_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(fired[0] + fired[1]) == sorted(a.pk for a in alerts)  # each alert fired by exactly one
    assert len(emails) == 50


@pytest.mark.django_db
def test_429_backs_off_honouring_retry_after_and_changes_nothing(
    alice, coingecko, emails, frozen, django_capture_on_commit_callbacks
):
    alert(alice, target="60000")
    coingecko.answer = (429, {"Retry-After": "120"}, b'{"status": {"error_code": 429}}')
    result = poll(django_capture_on_commit_callbacks)
    assert result.calls == 1 and PriceTick.objects.count() == 0
    assert PriceAlert.objects.get().status == "created"
    assert ProviderState.objects.get().backoff_until == NOW + timedelta(seconds=120)
    coingecko.answer = None
    coingecko.prices = {"bitcoin": {"usd": "61000"}}
    frozen.shift(timedelta(seconds=60))
    assert poll(django_capture_on_commit_callbacks).skipped.startswith("backing off")
    assert len(coingecko.price_calls()) == 1
    frozen.shift(timedelta(seconds=61))
    assert poll(django_capture_on_commit_callbacks).triggered


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        (200, {}, b'{"bitcoin": {"usd": "lots"}}'),
        (200, {}, b'{"bitcoin": {"usd": -5}}'),
        (200, {}, b"[1, 2, 3]"),
        (200, {}, b"<html>maintenance</html>"),
        (503, {}, b"{}"),
    ],
)
def test_a_malformed_payload_or_an_error_changes_nothing(
    alice, coingecko, emails, answer, django_capture_on_commit_callbacks
):
    alert(alice, target="1")
    coingecko.answer = answer
    poll(django_capture_on_commit_callbacks)
    assert PriceTick.objects.count() == 0 and PriceAlert.objects.get().status == "created"
    state = ProviderState.objects.get()
    assert state.consecutive_failures == 1 and state.last_error and state.backoff_until is None


@pytest.mark.django_db
def test_a_stale_price_is_recorded_but_not_acted_on(
    alice, coingecko, emails, settings, django_capture_on_commit_callbacks
):
    settings.PRICE_MAX_AGE_SECONDS = 600
    alert(alice, target="60000")
    coingecko.prices = {"bitcoin": {"usd": "61000"}}
    coingecko.updated_at = int((NOW - timedelta(seconds=601)).timestamp())
    result = poll(django_capture_on_commit_callbacks)
    assert result.stale == 1 and PriceTick.objects.count() == 1
    assert PriceAlert.objects.get().status == "created" and emails == []


@pytest.mark.django_db
def test_a_repeating_alert_re_arms_only_past_its_band(alice, coingecko, emails, django_capture_on_commit_callbacks):
    repeating = alert(alice, target="100", repeat=True, rearm_band_percent=Decimal("5"))
    for price, expected in [
        ("101", "triggered"),
        ("99", "triggered"),  # a wiggle back under the target: still triggered
        ("95", "triggered"),  # exactly at the band: not past it
        ("94.99", "created"),  # past the band: re-armed
        ("100", "triggered"),  # and fires again
    ]:
        coingecko.prices = {"bitcoin": {"usd": price}}
        poll(django_capture_on_commit_callbacks)
        repeating.refresh_from_db()
        assert repeating.status == expected, price
    assert repeating.trigger_count == 2 and len(emails) == 2


@pytest.mark.django_db
def test_deleted_and_expired_alerts_are_never_polled(
    api_client, alice, coingecko, emails, frozen, django_capture_on_commit_callbacks
):
    deleted = alert(alice, target="1")
    alert(alice, coin="ethereum", target="1", expires_at=NOW + timedelta(minutes=1))
    api_client.force_authenticate(alice)
    assert api_client.delete(f"/api/v1/price-alerts/{deleted.pk}/").status_code == 204
    deleted.refresh_from_db()
    assert deleted.status == "deleted"
    frozen.shift(timedelta(minutes=2))
    result = poll(django_capture_on_commit_callbacks)
    assert result.skipped == "no live alerts" and coingecko.price_calls() == []


@pytest.mark.django_db
def test_the_api_key_goes_in_the_demo_header(alice, coingecko, settings, emails, django_capture_on_commit_callbacks):
    settings.COINGECKO_API_KEY = "CG-demo-key"
    alert(alice, target="1")
    coingecko.prices = {"bitcoin": {"usd": "2"}}
    poll(django_capture_on_commit_callbacks)
    assert coingecko.price_calls()[0]["headers"]["x-cg-demo-api-key"] == "CG-demo-key"


@pytest.mark.django_db
def test_ids_are_chunked_within_coingeckos_limit(
    alice, coingecko, settings, emails, django_capture_on_commit_callbacks
):
    settings.COINGECKO_IDS_PER_CALL = 2
    for coin in ("bitcoin", "ethereum", "solana"):
        alert(alice, coin=coin, target="1")
    coingecko.prices = {"bitcoin": {"usd": "2"}, "ethereum": {"usd": "2"}, "solana": {"usd": "2"}}
    result = poll(django_capture_on_commit_callbacks)
    assert result.calls == 2 and len(result.triggered) == 3
