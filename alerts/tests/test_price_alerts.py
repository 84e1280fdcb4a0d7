import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils.timezone import now as timezone_now

from alerts.models import Coin, PriceAlert, PriceTick, ProviderState
from alerts.services.polling import alerts_trigger_crossed, live_pairs, price_poll
from alerts.services.price_alerts import coin_resolve, coins_refresh, price_alert_create, price_alert_email_send
from alerts.tasks import send_price_alert_email
from alerts.tests.conftest import CATALOGUE
from alerts.tests.emails import triggerings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("frozen")


@pytest.fixture
def emails(monkeypatch):
    """What the poll enqueues; run() sends them as a worker would."""
    sent = []
    monkeypatch.setattr(
        "alerts.services.polling.publish_many", lambda messages, what: sent.extend(triggerings(messages))
    )
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
def test_price_before_is_the_latest_earlier_tick_of_the_same_pair(
    alice, coingecko, emails, django_capture_on_commit_callbacks
):
    up = alert(alice, target="60000", direction="above")
    alert(alice, target="1", currency="eur", direction="below")  # another pair, polled alongside
    for price in ("50000", "57000.5", "60000"):
        coingecko.prices = {"bitcoin": {"usd": price, "eur": "9" + price}}
        poll(django_capture_on_commit_callbacks)
    up.refresh_from_db()
    assert up.status == "triggered" and up.price_before == Decimal("57000.5")


@pytest.mark.django_db
def test_the_polled_pairs_are_those_an_unexpired_alert_waits_on(alice, bob, coingecko):
    """On PostgreSQL a skip scan of the two partial indexes finds them; elsewhere a DISTINCT."""
    alert(alice, coin="bitcoin", target="1")  # live
    alert(bob, coin="bitcoin", target="2")  # live, the same pair
    alert(alice, coin="bitcoin", currency="eur", target="1", expires_at=NOW - timedelta(seconds=1))  # expired
    alert(alice, coin="bitcoin", currency="eur", target="2", expires_at=NOW + timedelta(seconds=1))  # not yet
    alert(alice, coin="ethereum", currency="eur", target="1", expires_at=NOW - timedelta(seconds=1))  # expired
    once = alert(alice, coin="solana", target="1")
    again = alert(alice, coin="solana", currency="eur", target="1", repeat=True)
    PriceAlert.objects.filter(pk__in=[once.pk, again.pk]).update(status="triggered")  # only `again` re-arms
    gone = alert(bob, coin="ethereum", target="1")
    PriceAlert.objects.filter(pk=gone.pk).update(status="deleted")
    assert live_pairs(now=NOW) == [("bitcoin", "eur"), ("bitcoin", "usd"), ("solana", "eur")]


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


@pytest.mark.django_db
def test_quotes_in_before_a_failed_call_are_still_acted_on(
    alice, coingecko, settings, emails, monkeypatch, django_capture_on_commit_callbacks
):
    settings.COINGECKO_IDS_PER_CALL = 2
    for coin in ("bitcoin", "ethereum", "solana"):
        alert(alice, coin=coin, target="1")
    coingecko.prices = {"bitcoin": {"usd": "2"}, "ethereum": {"usd": "2"}}  # the second call finds no solana
    from alerts.services import coingecko as client

    real_fetch, calls = client.fetch_prices, []

    def second_call_fails(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            coingecko.answer = (500, {}, b"down")
        return real_fetch(*args, **kwargs)

    monkeypatch.setattr(client, "fetch_prices", second_call_fails)
    result = poll(django_capture_on_commit_callbacks)
    assert result.calls == 2 and result.quotes == 2 and len(result.triggered) == 2
    assert ProviderState.objects.get().consecutive_failures == 1


# --- Symbols several coins share: the market-cap ranking ----------------------------------------

# Ids that sort before the real coin's, so that picking by id would pick the copycat.
COPYCATS = [
    {"id": "avalanche-bridged-btc", "symbol": "btc", "name": "Avalanche Bridged BTC"},
    {"id": "bitcoin-on-base", "symbol": "btc", "name": "Bitcoin (Base copy)"},
    {"id": "bridged-ether", "symbol": "eth", "name": "Bridged Ether"},
]


def ranks() -> dict[str, int | None]:
    return dict(Coin.objects.values_list("id", "market_cap_rank"))


def ambiguity(symbol: str) -> str:
    with pytest.raises(ValidationError) as error:
        coin_resolve(symbol)
    [message] = error.value.message_dict["coin"]
    assert "is the symbol of several coins" in message
    return message


@pytest.mark.django_db
def test_a_shared_symbol_names_the_best_ranked_coin(coingecko):
    coingecko.catalogue += COPYCATS
    coingecko.ranking = [("bitcoin", 1), ("ethereum", 2), ("avalanche-bridged-btc", 640)]
    assert coin_resolve("BTC") == "bitcoin"  # rank 1 beats 640 and an unranked copy
    assert coin_resolve("eth") == "ethereum"  # a ranked coin beats an unranked one whose id sorts first
    assert ranks() == {
        "bitcoin": 1,
        "ethereum": 2,
        "avalanche-bridged-btc": 640,
        "bitcoin-on-base": None,
        "bridged-ether": None,
        "celsius-degree-token": None,
        "solana": None,
        "wrapped-solana": None,
    }
    assert coin_resolve("bitcoin-on-base") == "bitcoin-on-base"  # an id is still taken as it is


@pytest.mark.django_db
def test_a_shared_symbol_with_no_ranked_candidate_or_a_tie_is_still_ambiguous(coingecko):
    coins_refresh()
    assert ranks()["bitcoin"] == 1  # the ranking was had; neither SOL is in it
    message = ambiguity("sol")
    assert "solana, wrapped-solana" in message
    coingecko.ranking = [("bitcoin", 1), ("solana", 7), ("wrapped-solana", 7)]  # the best rank is shared
    coins_refresh()
    assert "solana" in ambiguity("sol") and "wrapped-solana" in ambiguity("sol")
    coingecko.ranking = [("bitcoin", 1), ("solana", 7), ("wrapped-solana", 90)]
    coins_refresh()
    assert coin_resolve("sol") == "solana"


@pytest.mark.django_db
def test_the_ranking_is_fetched_in_pages_with_the_api_key_and_bounded_queries(
    coingecko, settings, django_assert_max_num_queries
):
    settings.COINGECKO_RANKED_PAGES = 2
    settings.COINGECKO_API_KEY = "CG-demo-key"
    settings.WEBHOOK_MAX_RESPONSE_BYTES = 1024  # a page of 250 coins is far larger: read all the same
    many = [{"id": f"coin-{n}", "symbol": f"c{n}", "name": f"Coin {n}"} for n in range(3, 700)]
    coingecko.catalogue = CATALOGUE + many
    coingecko.ranking = [("bitcoin", 1), ("ethereum", 2)] + [(c["id"], n) for n, c in enumerate(many, start=3)]
    # Not a query per coin: one upsert, which SQLite splits into batches of 999 parameters (four here).
    with django_assert_max_num_queries(12):
        assert coins_refresh() == 702
    assert [call["query"] for call in coingecko.ranking_calls()] == [
        {"vs_currency": "usd", "order": "market_cap_desc", "per_page": "250", "page": str(page)} for page in (1, 2)
    ]
    assert all(call["headers"]["x-cg-demo-api-key"] == "CG-demo-key" for call in coingecko.ranking_calls())
    assert (ranks()["coin-500"], ranks()["coin-501"]) == (500, None)  # two pages: the top 500
    settings.COINGECKO_RANKED_PAGES = 4
    coingecko.calls.clear()
    with django_assert_max_num_queries(12):
        coins_refresh()
    assert [call["query"]["page"] for call in coingecko.ranking_calls()] == ["1", "2", "3"]  # 3 is short: the end
    assert ranks()["coin-699"] == 699


@pytest.mark.django_db
def test_a_coin_that_left_the_ranking_is_unranked_and_no_pages_means_no_ranking(coingecko, settings):
    coingecko.catalogue += COPYCATS
    coins_refresh()
    assert coin_resolve("btc") == "bitcoin"
    coingecko.ranking = [("ethereum", 1), ("avalanche-bridged-btc", 700)]
    coins_refresh()
    assert ranks()["bitcoin"] is None and coin_resolve("btc") == "avalanche-bridged-btc"
    settings.COINGECKO_RANKED_PAGES = 0
    coingecko.calls.clear()
    coins_refresh()
    assert coingecko.ranking_calls() == [] and set(ranks().values()) == {None}
    assert "bitcoin, bitcoin-on-base" in ambiguity("btc")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        (503, {}, b"{}"),
        (404, {}, b'{"error": "not found"}'),
        (200, {}, b'{"not": "a list of coins"}'),
        (200, {}, b'[{"symbol": "btc"}]'),
        (200, {}, b"<html>maintenance</html>"),
    ],
)
def test_a_failed_ranking_leaves_the_catalogue_refreshed_and_the_ranks_as_they_were(coingecko, answer):
    coins_refresh()
    coingecko.catalogue += COPYCATS
    coingecko.catalogue[0] = {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin (renamed)"}
    coingecko.ranking = [("avalanche-bridged-btc", 1)]  # never served
    coingecko.answers["/coins/markets"] = answer
    assert coins_refresh() == 8
    assert Coin.objects.get(id="bitcoin").name == "Bitcoin (renamed)" and ranks()["bitcoin"] == 1
    assert ranks()["avalanche-bridged-btc"] is None  # a new coin has no rank yet
    assert coin_resolve("btc") == "bitcoin"
    state = ProviderState.objects.get()
    assert state.consecutive_failures == 1 and state.last_error and state.backoff_until is None


@pytest.mark.django_db
def test_a_ranking_missing_a_page_is_not_used(coingecko):
    coins_refresh()
    full_page = [("ethereum", 1)] + [(f"coin-{n}", n) for n in range(2, 251)]
    coingecko.ranking = [*full_page, "not a coin"]  # page 2 is malformed
    coins_refresh()
    assert len(coingecko.ranking_calls()) == 3
    assert (ranks()["bitcoin"], ranks()["ethereum"]) == (1, 2)  # page 1 was not applied on its own


@pytest.mark.django_db
def test_a_429_on_the_ranking_backs_the_poller_off_too(coingecko, frozen):
    coingecko.answers["/coins/markets"] = (429, {"Retry-After": "120"}, b"{}")
    assert coins_refresh() == len(CATALOGUE)
    assert ProviderState.objects.get().backoff_until == NOW + timedelta(seconds=120)
    assert price_poll().skipped.startswith("backing off")
    del coingecko.answers["/coins/markets"]
    frozen.shift(timedelta(seconds=60))
    coins_refresh()  # backing off: the catalogue is refreshed, CoinGecko's ranking is not asked
    assert len(coingecko.ranking_calls()) == 1 and set(ranks().values()) == {None}
    frozen.shift(timedelta(seconds=61))
    coins_refresh()
    assert len(coingecko.ranking_calls()) == 2 and ranks()["bitcoin"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner settings are PostgreSQL's")
def test_matching_probes_the_index_per_pair_and_leaves_the_planner_as_it_was(alice, emails):
    from django.test.utils import CaptureQueriesContext

    from alerts.services.polling import Crossing, alerts_rearm_many, alerts_trigger_crossed_many

    PriceAlert.objects.create(owner=alice, coin="bitcoin", currency="usd", target_price=50000, direction="above")
    crossings = [Crossing("bitcoin", "usd", Decimal("60000"), NOW, None)]
    with CaptureQueriesContext(connection) as queries:
        alerts_rearm_many(crossings, now=NOW)
        assert len(alerts_trigger_crossed_many(crossings, now=NOW)) == 1
    assert sum("SET LOCAL enable_hashjoin = off" in q["sql"] for q in queries.captured_queries) == 2
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_hashjoin")
        assert cursor.fetchone()[0] == "on"  # SET LOCAL ended with each function's transaction


@pytest.mark.django_db
@pytest.mark.parametrize("updated_at", ["100000000000000000000", "1e30", "-99999999999999", "253402300800"])
def test_a_source_time_out_of_range_is_unknown_not_a_crash(
    alice, coingecko, emails, updated_at, django_capture_on_commit_callbacks
):
    alert(alice, target="70000")
    coingecko.prices = {"bitcoin": {"usd": "61000"}}
    coingecko.updated_at = updated_at  # written verbatim into the answer
    poll(django_capture_on_commit_callbacks)
    tick = PriceTick.objects.get()
    assert tick.price == Decimal("61000") and tick.source_updated_at is None


def test_a_burst_of_triggerings_is_one_message_fanned_out_from_the_table_and_a_failed_email_goes_on_alone(
    alice, coingecko, monkeypatch
):
    from alerts.services.polling import EMAILS_PER_MESSAGE, _email_messages, price_alert_emails_fan_out
    from alerts.tasks import send_price_alert_emails

    alerts = [alert(alice, target=str(50000 + i)) for i in range(EMAILS_PER_MESSAGE + 1)]
    PriceAlert.objects.update(status="triggered", trigger_count=1, triggered_price=Decimal(60000), triggered_at=NOW)
    fired = [(a.pk, 1) for a in alerts]

    assert [task.name for task, _ in _email_messages(fired[:2])] == ["alerts.send_price_alert_email"] * 2
    assert [task.name for task, _ in _email_messages(fired)] == ["alerts.fan_out_price_alert_emails"]
    published = []
    monkeypatch.setattr("alerts.services.polling.publish_many", lambda messages, what: published.extend(messages))
    assert price_alert_emails_fan_out() == len(fired)
    assert [len(args[0]) for _, args in published] == [EMAILS_PER_MESSAGE, 1]
    assert triggerings(published) == fired

    retried = []
    monkeypatch.setattr(send_price_alert_email, "apply_async", lambda args, **kwargs: retried.append(args))
    real_send = mail.send_mail

    def third_fails(*args, **kwargs):
        if len(mail.outbox) == 2 and not retried:
            raise ConnectionRefusedError("smtp down")
        return real_send(*args, **kwargs)

    monkeypatch.setattr("alerts.services.price_alerts.send_mail", third_fails)
    assert send_price_alert_emails.run([[pk, count] for pk, count in fired[:4]]) == 3
    assert len(mail.outbox) == 3 and retried == [(alerts[2].pk, 1)]
    assert PriceAlert.objects.get(pk=alerts[2].pk).notified_at is None  # released for the retry


def test_emails_whose_message_was_lost_are_published_again_and_sent_once(alice, coingecko, frozen, monkeypatch):
    """The beat's run of the fan-out publishes what is owed for triggerings older than its grace; an
    e-mail published twice is sent once."""
    from alerts.services.polling import price_alert_emails_fan_out
    from alerts.tasks import fan_out_price_alert_emails, send_price_alert_emails

    lost = alert(alice, target="50000")
    sent_already = alert(alice, target="50001")
    PriceAlert.objects.update(status="triggered", trigger_count=1, triggered_price=Decimal(60000), triggered_at=NOW)
    PriceAlert.objects.filter(pk=sent_already.pk).update(notified_at=NOW)
    fresh = alert(alice, target="50002")
    frozen.shift(timedelta(minutes=3))
    PriceAlert.objects.filter(pk=fresh.pk).update(
        status="triggered", trigger_count=1, triggered_price=Decimal(60000), triggered_at=timezone_now()
    )
    published = []
    monkeypatch.setattr("alerts.services.polling.publish_many", lambda messages, what: published.extend(messages))

    assert fan_out_price_alert_emails.run(120) == 1  # `fresh` may still have its message in flight
    assert triggerings(published) == [(lost.pk, 1)]
    assert price_alert_emails_fan_out() == 2
    for _, args in published:
        send_price_alert_emails.run(*args)
    assert sorted(pk for args in published for pk, _ in args[1][0]) == sorted([lost.pk, lost.pk, fresh.pk])
    assert len(mail.outbox) == 2 and PriceAlert.objects.filter(notified_at__isnull=True).count() == 0
