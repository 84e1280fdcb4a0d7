"""Kryptolert's `/alerts/…` endpoints (seed 001), answered by alerts/legacy/price_alerts.py."""

import contextlib
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections

from alerts.models import Coin, PriceAlert, PriceTick, ProviderState
from alerts.services.polling import price_poll
from alerts.services.price_alerts import PriceAlertExists, price_alert_create
from alerts.tasks import send_price_alert_email
from alerts.tests.emails import triggerings

NOW = datetime(2026, 11, 23, 15, 13, 15, tzinfo=UTC)
CREATED = "Mon, 23 Nov 2026 15:13:15 GMT"
PASSWORD = "a-Strong-passw0rd"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

ROUTES = [
    "/alerts/create",
    "/alerts/delete",
    "/alerts/fetch_all",
    "/alerts/fetch_all/",
    "/alerts/fetch_all/CREATED",
    "/alerts/fetch_all/TRIGGERED/",
]


@pytest.fixture
def market(coingecko):
    """CoinGecko (the local fake) quoting the coins the tests use."""
    coingecko.prices = {
        "bitcoin": {"usd": "60000"},
        "ethereum": {"usd": "3000"},
        "celsius-degree-token": {"usd": "0.25"},
    }
    return coingecko


def post(client, path, body=None, *, token=None, **headers):
    """A request as the original's clients sent it: a JSON body and the token in x-access-token."""
    if token is not None:
        headers["HTTP_X_ACCESS_TOKEN"] = token
    data = json.dumps(body) if body is not None else ""
    return client.post(path, data=data, content_type="application/json", **headers)


def create(client, token, coin="btc", target_price="65000"):
    return post(client, "/alerts/create", {"coin": coin, "target_price": target_price}, token=token)


def fetch(client, token, path="/alerts/fetch_all/"):
    response = post(client, path, token=token)
    assert response.status_code == 200, response.json()
    return response.json()["message"]


# --- The documented session -------------------------------------------------------------------


def test_the_documented_session_replayed_verbatim(api_client, market):
    # "Making an invalid login request"
    response = post(api_client, "/auth/login", {"email": "adithya@example.com", "password": "not-my-password"})
    assert (response.status_code, response.json()) == (401, {"message": "Invalid Credentials"})
    # "Making an account and retrieving the token"
    account = {"email": "adithya@example.com", "password": PASSWORD}
    response = post(api_client, "/auth/register", account)
    assert (response.status_code, response.json()) == (201, {"message": "Successfully Registered"})
    response = post(api_client, "/auth/login", account)
    assert response.status_code == 201 and response.json()["message"] == "Successful Sign-In"
    token = response.json()["token"]
    # "Making the Alert": coin a lower-case symbol, target_price a string
    for coin, target in (("btc", "65000"), ("cel", "0.2")):
        response = create(api_client, token, coin, target)
        assert (response.status_code, response.json()) == (200, {"message": "Alert Created SuccessFully"})
    btc, cel = PriceAlert.objects.order_by("id")
    assert (btc.coin, btc.target_price, btc.direction) == ("bitcoin", Decimal("65000"), "above")
    assert (cel.coin, cel.target_price, cel.direction) == ("celsius-degree-token", Decimal("0.2"), "below")
    user_id = btc.owner_id
    # "Fetching Alerts"
    assert fetch(api_client, token) == [
        {
            "id": cel.pk,
            "coin": "cel",
            "target_price": "0.2",
            "user_id": user_id,
            "status": "CREATED",
            "created": CREATED,
        },
        {
            "id": btc.pk,
            "coin": "btc",
            "target_price": "65000",
            "user_id": user_id,
            "status": "CREATED",
            "created": CREATED,
        },
    ]
    # Deleting one, then the filtered lists
    response = post(api_client, "/alerts/delete", {"id": btc.pk}, token=token)
    assert (response.status_code, response.json()) == (200, {"message": "Alert Deleted Successfully"})
    assert [(a["id"], a["status"]) for a in fetch(api_client, token, "/alerts/fetch_all/DELETED")] == [
        (btc.pk, "DELETED")
    ]
    assert [a["id"] for a in fetch(api_client, token, "/alerts/fetch_all/CREATED")] == [cel.pk]
    assert fetch(api_client, token, "/alerts/fetch_all/TRIGGERED") == []


@pytest.mark.parametrize(
    "path",
    [
        "/alerts/fetch_all",
        "/alerts/fetch_all/",
        "/alerts/fetch_all/CREATED",
        "/alerts/fetch_all/CREATED/",
        "/alerts/fetch_all/created",
    ],
)
def test_fetch_all_answers_with_and_without_the_trailing_slash(api_client, alice, access_token, market, path):
    token = access_token(alice)
    assert create(api_client, token).status_code == 200
    assert [a["coin"] for a in fetch(api_client, token, path)] == ["btc"]


def test_a_triggered_alert_emails_the_registered_address_the_coin_and_price(
    api_client, market, monkeypatch, django_capture_on_commit_callbacks
):
    account = {"email": "trader@example.com", "password": PASSWORD}
    post(api_client, "/auth/register", account)
    token = post(api_client, "/auth/login", account).json()["token"]
    assert create(api_client, token, "btc", "65000").status_code == 200
    enqueued = []
    monkeypatch.setattr(
        "alerts.services.polling.publish_many", lambda messages, what: enqueued.extend(triggerings(messages))
    )
    market.prices = {"bitcoin": {"usd": "65432.1"}}
    with django_capture_on_commit_callbacks(execute=True):
        price_poll()
    for pk, count in enqueued:
        send_price_alert_email.run(pk, count)
    [message] = mail.outbox
    assert message.to == ["trader@example.com"]
    assert message.subject == "bitcoin has risen to 65432.1 USD"
    assert "bitcoin above 65000 USD" in message.body and "Observed price: 65432.1 USD" in message.body
    [triggered] = fetch(api_client, token, "/alerts/fetch_all/TRIGGERED/")
    assert (triggered["coin"], triggered["target_price"], triggered["status"]) == ("btc", "65000", "TRIGGERED")


# --- Creating ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "direction"), [("65000", "above"), ("55000", "below"), ("60000", "below")])
def test_the_direction_is_inferred_from_the_current_price(api_client, alice, access_token, market, target, direction):
    assert create(api_client, access_token(alice), "btc", target).status_code == 200
    assert (
        PriceAlert.objects.get().direction == direction
    )  # the price is 60000: only a target above it waits for a rise


def test_without_a_recent_price_coingecko_is_asked_once_and_the_price_kept(
    api_client, alice, access_token, market, settings
):
    settings.PRICE_MAX_AGE_SECONDS = 900
    token = access_token(alice)
    # A tick older than PRICE_MAX_AGE_SECONDS (the coin was not polled since) is not the current price.
    PriceTick.objects.create(
        coin="bitcoin", currency="usd", price=Decimal("10"), fetched_at=NOW - timedelta(seconds=901)
    )
    assert create(api_client, token, "btc", "50000").status_code == 200
    assert PriceAlert.objects.get().direction == "below"  # from CoinGecko's 60000, not the stale 10
    [call] = market.price_calls()
    assert call["query"]["ids"] == "bitcoin" and call["query"]["vs_currencies"] == "usd"
    assert PriceTick.objects.filter(fetched_at=NOW).values_list("price", flat=True).get() == Decimal("60000")
    assert create(api_client, token, "btc", "70000").status_code == 200  # the fresh tick serves the next one
    assert len(market.price_calls()) == 1


@pytest.mark.parametrize(
    "answer",
    [
        None,  # CoinGecko does not quote the coin
        (503, {}, b"{}"),
        (200, {}, b"<html>maintenance</html>"),
        (429, {"Retry-After": "120"}, b"{}"),
    ],
)
def test_no_price_to_be_had_is_a_400_and_nothing_is_written(api_client, alice, access_token, market, answer):
    market.prices = {}
    market.answer = answer
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", refreshed_at=NOW)  # the catalogue is not asked
    response = create(api_client, access_token(alice))
    assert response.status_code == 400 and list(response.json()["errors"]) == ["direction"], response.json()
    assert response.json()["message"] == "Invalid input."
    assert not PriceAlert.objects.exists() and not PriceTick.objects.exists()


def test_a_429_on_the_price_backs_the_poller_off_too(api_client, alice, access_token, market):
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", refreshed_at=NOW)
    market.answer = (429, {"Retry-After": "120"}, b"{}")
    token = access_token(alice)
    assert create(api_client, token).status_code == 400
    assert ProviderState.objects.get().backoff_until == NOW + timedelta(seconds=120)
    market.answer = None
    assert create(api_client, token).status_code == 400  # backing off: CoinGecko is not asked again
    assert len(market.price_calls()) == 1


def test_a_live_duplicate_already_exists_with_a_409(api_client, alice, bob, access_token, market):
    token = access_token(alice)
    assert create(api_client, token, "btc", "65000").status_code == 200
    for same in ("65000", "65000.00"):
        response = create(api_client, token, "btc", same)
        assert (response.status_code, response.json()) == (409, {"message": "Alert Already Exists"})
    assert create(api_client, token, "bitcoin", "65000").status_code == 409  # the id names the same coin
    assert PriceAlert.objects.count() == 1
    assert create(api_client, access_token(bob), "btc", "65000").status_code == 200  # only one's own count
    assert create(api_client, token, "btc", "65001").status_code == 200
    # A triggered or deleted alert is not live: the same one can be asked for again.
    PriceAlert.objects.filter(owner=alice, target_price=65000).update(status="triggered")
    assert create(api_client, token, "btc", "65000").status_code == 200
    PriceAlert.objects.filter(owner=alice, target_price=65000, status="created").update(status="deleted")
    assert create(api_client, token, "btc", "65000").status_code == 200
    assert PriceAlert.objects.filter(owner=alice, target_price=65000).count() == 3


def test_api_v1_still_allows_identical_alerts(client_alice, market):
    body = {"coin": "bitcoin", "target_price": "65000", "direction": "above"}
    assert [client_alice.post("/api/v1/price-alerts/", body).status_code for _ in range(2)] == [201, 201]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="racing transactions need PostgreSQL (CI runs this)")
def test_two_racing_identical_creates_make_one_alert(alice, monkeypatch):
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", refreshed_at=NOW)
    # Each request waits before saving until the other has checked too (or 1 s has passed): without
    # the owner's lock both would find no duplicate and both save; with it, the second checks only
    # after the first has committed.
    checked = threading.Barrier(2)
    save = PriceAlert.save

    def save_after_both_checked(self, *args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            checked.wait(timeout=1)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(PriceAlert, "save", save_after_both_checked)
    outcomes = []

    def create_once():
        try:
            price_alert_create(
                owner=alice, coin="btc", target_price=Decimal("65000"), direction="above", refuse_duplicate=True
            )
            outcomes.append("created")
        except PriceAlertExists:
            outcomes.append("exists")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "exists"] and PriceAlert.objects.count() == 1


def test_a_json_number_target_is_read_exactly_never_through_a_float(api_client, alice, access_token, market):
    token = access_token(alice)

    def send(number: str):
        body = f'{{"coin": "btc", "target_price": {number}}}'
        return api_client.post("/alerts/create", data=body, content_type="application/json", HTTP_X_ACCESS_TOKEN=token)

    # As a float this is 1.0 and would pass; read exactly it has too many decimals.
    response = send("1.000000000000000001")
    assert response.status_code == 400 and "target_price" in response.json()["errors"]
    assert send("65000.12345678").status_code == 200
    assert PriceAlert.objects.get().target_price == Decimal("65000.12345678")


def test_a_body_sent_with_a_form_content_type_is_read_as_json(api_client, alice, access_token, market):
    body = json.dumps({"coin": "btc", "target_price": "65000"})  # what curl -d sends
    response = api_client.post(
        "/alerts/create",
        data=body,
        content_type="application/x-www-form-urlencoded",
        HTTP_X_ACCESS_TOKEN=access_token(alice),
    )
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"coin": "btc", "target_price": "-5"}, "target_price"),
        ({"coin": "btc", "target_price": "0"}, "target_price"),
        ({"coin": "btc", "target_price": "lots"}, "target_price"),
        ({"coin": "btc", "target_price": "NaN"}, "target_price"),
        ({"coin": "btc", "target_price": "1e400"}, "target_price"),
        ({"coin": "btc", "target_price": "1.123456789"}, "target_price"),
        ({"coin": "btc", "target_price": True}, "target_price"),
        ({"coin": "btc"}, "target_price"),
        ({"target_price": "1"}, "coin"),
        ({"coin": "", "target_price": "1"}, "coin"),
        ({"coin": ["btc"], "target_price": "1"}, "coin"),
        ({"coin": "notacoin", "target_price": "1"}, "coin"),
        ({"coin": "sol", "target_price": "1"}, "coin"),  # the symbol of two coins, neither ranked
        (["btc", "1"], "non_field_errors"),
    ],
)
def test_bad_input_to_create_is_a_400_naming_the_field(api_client, alice, access_token, market, body, field):
    response = post(api_client, "/alerts/create", body, token=access_token(alice))
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not PriceAlert.objects.exists()


def test_an_ambiguous_symbol_names_the_candidate_ids(api_client, alice, access_token, market):
    response = create(api_client, access_token(alice), "sol", "150")
    [message] = response.json()["errors"]["coin"]
    assert "solana" in message and "wrapped-solana" in message
    assert create(api_client, access_token(alice), "wrapped-solana", "150").status_code == 400  # no price quoted
    market.prices["wrapped-solana"] = {"usd": "149"}
    assert create(api_client, access_token(alice), "wrapped-solana", "150").status_code == 200


def test_old_clients_symbols_name_the_top_ranked_coin_among_its_copies(api_client, alice, access_token, market):
    # As on CoinGecko: bridged and copycat tokens share btc, eth and cel, some ranked far down, some not at all.
    market.catalogue += [
        {"id": "avalanche-bridged-btc", "symbol": "btc", "name": "Avalanche Bridged BTC"},
        {"id": "bitcoin-on-base", "symbol": "btc", "name": "Bitcoin (Base copy)"},
        {"id": "bridged-ether", "symbol": "eth", "name": "Bridged Ether"},
        {"id": "celer-bridged-cel", "symbol": "cel", "name": "Celer Bridged CEL"},
    ]
    market.ranking = [("bitcoin", 1), ("ethereum", 2), ("avalanche-bridged-btc", 640), ("celsius-degree-token", 950)]
    token = access_token(alice)
    for coin, target in (("btc", "65000"), ("eth", "4000"), ("cel", "0.2")):
        response = create(api_client, token, coin, target)
        assert (response.status_code, response.json()) == (200, {"message": "Alert Created SuccessFully"})
    assert Coin.objects.filter(symbol="btc").count() == 3
    assert list(PriceAlert.objects.order_by("id").values_list("coin", flat=True)) == [
        "bitcoin",
        "ethereum",
        "celsius-degree-token",
    ]
    assert [a["coin"] for a in fetch(api_client, token)] == ["cel", "eth", "btc"]


def test_an_unreadable_coin_catalogue_is_a_400_not_a_500(api_client, alice, access_token, market):
    market.answer = (200, {}, b'{"not": "a list of coins"}')
    response = create(api_client, access_token(alice))
    assert response.status_code == 400 and "could not be loaded" in response.json()["errors"]["coin"][0]


def test_malformed_json_is_a_400(api_client, alice, access_token, market):
    response = api_client.post(
        "/alerts/create", data="{not json", content_type="application/json", HTTP_X_ACCESS_TOKEN=access_token(alice)
    )
    assert response.status_code == 400 and response.json()["message"].startswith("JSON parse error")


# --- Deleting ---------------------------------------------------------------------------------


def test_someone_elses_or_an_unknown_alert_is_an_invalid_alert_id(api_client, alice, bob, access_token, market):
    assert create(api_client, access_token(bob)).status_code == 200
    bobs = PriceAlert.objects.get()
    for alert_id in (bobs.pk, bobs.pk + 1000):
        response = post(api_client, "/alerts/delete", {"id": alert_id}, token=access_token(alice))
        assert (response.status_code, response.json()) == (404, {"message": "Invalid Alert Id"})
    bobs.refresh_from_db()
    assert bobs.status == "created"
    assert fetch(api_client, access_token(alice)) == []


def test_deleting_marks_the_alert_deleted_and_again_is_harmless(api_client, alice, access_token, market):
    token = access_token(alice)
    create(api_client, token)
    alert = PriceAlert.objects.get()
    for _ in range(2):
        response = post(api_client, "/alerts/delete", {"id": str(alert.pk)}, token=token)  # a string id too
        assert (response.status_code, response.json()) == (200, {"message": "Alert Deleted Successfully"})
    alert.refresh_from_db()
    assert alert.status == "deleted"


@pytest.mark.parametrize("body", [{}, {"id": "abc"}, {"id": 0}, {"id": 2**70}, {"id": None}])
def test_bad_input_to_delete_is_a_400(api_client, alice, access_token, market, body):
    create(api_client, access_token(alice))
    response = post(api_client, "/alerts/delete", body, token=access_token(alice))
    assert response.status_code == 400 and "id" in response.json()["errors"], response.json()
    assert PriceAlert.objects.get().status == "created"


# --- Listing ----------------------------------------------------------------------------------


def test_pages_are_newest_first_with_the_id_breaking_ties(api_client, alice, access_token, market, frozen):
    token = access_token(alice)
    for i in range(3):
        create(api_client, token, "btc", str(61000 + i))
    frozen.shift(timedelta(seconds=1))
    for i in range(2):
        create(api_client, token, "btc", str(62000 + i))
    ids = list(PriceAlert.objects.order_by("id").values_list("id", flat=True))
    newest_first = [ids[4], ids[3], ids[2], ids[1], ids[0]]
    assert [a["id"] for a in fetch(api_client, token)] == newest_first
    pages = [fetch(api_client, token, f"/alerts/fetch_all/?page={page}&limit=2") for page in (1, 2, 3, 4)]
    assert [[a["id"] for a in page] for page in pages] == [newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert pages[0][0]["created"] == "Mon, 23 Nov 2026 15:13:16 GMT"


def test_the_page_size_is_capped_by_api_max_page_size(api_client, alice, access_token, market, settings):
    token = access_token(alice)
    for i in range(4):
        create(api_client, token, "btc", str(61000 + i))
    settings.API_MAX_PAGE_SIZE = 3
    assert len(fetch(api_client, token)) == 3  # the default
    assert len(fetch(api_client, token, "/alerts/fetch_all/?limit=50")) == 3
    assert len(fetch(api_client, token, "/alerts/fetch_all/?limit=2")) == 2
    assert len(fetch(api_client, token, "/alerts/fetch_all/?page=2&limit=50")) == 1


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/alerts/fetch_all/SLEEPING", "filter"),
        ("/alerts/fetch_all/SLEEPING/", "filter"),
        ("/alerts/fetch_all/?page=0", "page"),
        ("/alerts/fetch_all/?page=two", "page"),
        ("/alerts/fetch_all/?page=99999999999999999999", "page"),
        ("/alerts/fetch_all?limit=0", "limit"),
        ("/alerts/fetch_all?limit=lots", "limit"),
        ("/alerts/fetch_all/CREATED?limit=", "limit"),
        ("/alerts/fetch_all/CREATED?sort=id", "sort"),
    ],
)
def test_bad_filters_and_pages_are_a_400(api_client, alice, access_token, path, field):
    response = post(api_client, path, token=access_token(alice))
    assert response.status_code == 400 and field in response.json()["errors"], response.json()


def test_the_list_renders_exact_decimals_statuses_and_symbols(api_client, alice, access_token, market):
    token = access_token(alice)
    for coin, target in (("btc", "65000.50"), ("eth", "0.00001000"), ("cel", "1")):
        assert create(api_client, token, coin, target).status_code == 200
    PriceAlert.objects.filter(coin="ethereum").update(status="triggered")
    Coin.objects.filter(id="celsius-degree-token").delete()  # gone from CoinGecko's catalogue
    rows = fetch(api_client, token)
    assert [(a["coin"], a["target_price"], a["status"]) for a in rows] == [
        ("celsius-degree-token", "1", "CREATED"),
        ("eth", "0.00001", "TRIGGERED"),
        ("btc", "65000.5", "CREATED"),
    ]
    assert all(a["user_id"] == alice.pk and a["created"] == CREATED for a in rows)


def test_the_list_query_count_is_constant(api_client, alice, bob, access_token, market, django_assert_max_num_queries):
    token = access_token(alice)
    for count in (3, 30):
        while PriceAlert.objects.filter(owner=alice).count() < count:
            n = PriceAlert.objects.count()
            create(api_client, token, ("btc", "eth", "cel")[n % 3], str(70000 + n))
            create(api_client, access_token(bob), "btc", str(70000 + n))
        with django_assert_max_num_queries(2):  # the user, then the page (symbols in the same query)
            assert len(fetch(api_client, token)) == count


# --- Authentication, and the same alerts as /api/v1/ -------------------------------------------


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_needs_a_token(api_client, alice, settings, path):
    response = post(api_client, path, {})
    assert (response.status_code, response.json()) == (
        401,
        {"message": "Authentication credentials were not provided."},
    )
    response = post(api_client, path, {}, token="not-a-token")
    assert response.status_code == 401 and list(response.json()) == ["message"]
    # The original needed a token here too: LEGACY_DEFAULT_OWNER does not open these routes.
    settings.LEGACY_DEFAULT_OWNER = alice.username
    assert post(api_client, path, {}).status_code == 401


def test_a_bearer_token_is_accepted_too(api_client, alice, access_token, market):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {access_token(alice)}"}
    assert post(api_client, "/alerts/create", {"coin": "btc", "target_price": "65000"}, **auth).status_code == 200
    assert len(post(api_client, "/alerts/fetch_all/", **auth).json()["message"]) == 1


def test_legacy_and_v1_clients_see_the_same_alerts(api_client, alice, access_token, market):
    token = access_token(alice)
    v1 = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    # Created by the legacy client, read by /api/v1/
    create(api_client, token, "btc", "65000")
    [legacy_made] = api_client.get("/api/v1/price-alerts/", **v1).json()["results"]
    assert (legacy_made["coin"], legacy_made["target_price"], legacy_made["direction"], legacy_made["status"]) == (
        "bitcoin",
        "65000.00000000",
        "above",
        "created",
    )
    # Created by /api/v1/, read by the legacy client
    body = {"coin": "ethereum", "target_price": "4000.5", "direction": "below"}
    v1_made = api_client.post("/api/v1/price-alerts/", body, format="json", **v1).json()
    assert [(a["id"], a["coin"], a["target_price"], a["status"]) for a in fetch(api_client, token)] == [
        (v1_made["id"], "eth", "4000.5", "CREATED"),
        (legacy_made["id"], "btc", "65000", "CREATED"),
    ]
    # Deleted by either, seen deleted by both
    post(api_client, "/alerts/delete", {"id": v1_made["id"]}, token=token)
    assert api_client.get(f"/api/v1/price-alerts/{v1_made['id']}/", **v1).json()["status"] == "deleted"
    assert api_client.delete(f"/api/v1/price-alerts/{legacy_made['id']}/", **v1).status_code == 204
    assert [a["id"] for a in fetch(api_client, token, "/alerts/fetch_all/DELETED")] == [
        v1_made["id"],
        legacy_made["id"],
    ]
