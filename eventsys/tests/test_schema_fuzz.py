"""Schemathesis over the live OpenAPI schema, in-process through WSGI, every operation (legacy ones too).

Every check runs on every generated request (positive and negative data; examples, coverage and
fuzzing phases): no 5xx, only documented status codes and content types, responses that match their
schema, and requests the schema forbids are refused. The caller is a real user with a JWT (an API
token where the route takes one only), owning one object of each kind, so detail routes answer 200
as well as 404. Generation is deterministic (a fixed seed, derandomized), so a failure reproduces.

`SCHEMATHESIS_MAX_EXAMPLES` (default 5) bounds the fuzzing phase per operation:
`SCHEMATHESIS_MAX_EXAMPLES=200 pytest eventsys/tests/test_schema_fuzz.py` searches deeper.
`SCHEMATHESIS_SURVEY=1 pytest -s …` does not stop at a failure: it prints every failure found, by
check and operation (`SCHEMATHESIS_SURVEY=verbose`: with a request that shows each).
"""

import os
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.config import SchemathesisConfig

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"))
# Routes that take an API token and refuse a person's JWT.
API_TOKEN_PATHS = {"/api/v1/ingest/"}


FAILURES: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
# Path prefix -> {path parameter: the id of the caller's real object}, while the fuzz test runs.
REAL_IDS: dict[str, dict[str, int | str]] = {}


def _even(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value % 2 == 0
    return isinstance(value, str) and len(value) % 2 == 0


@schemathesis.hook
def before_call(context, case, kwargs):
    # In valid requests, half the generated ids (even numbers, even-length strings) name the caller's real
    # object, so detail routes answer 200 as well as 404. Invalid ones are sent as generated.
    if case.meta is None or case.meta.generation.mode.is_negative:
        return
    for prefix, ids in REAL_IDS.items():
        if case.operation.path.startswith(prefix):
            for name, value in ids.items():
                if case.path_parameters and _even(case.path_parameters.get(name)):
                    case.path_parameters[name] = value
            return


@schemathesis.hook
def after_validate(context, case, response, results):
    for result in results:
        if result.failure is not None:
            key = f"{response.status_code} {result.failure.title}"
            FAILURES[(result.name, case.operation.label)].setdefault(
                key, f"{case.as_curl_command()}\n        -> {response.text[:300]}"
            )


@dataclass
class FuzzData:
    jwt: str
    api_token: str
    ids: dict[str, dict[str, int | str]]  # as REAL_IDS


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {
                "enabled": True,
                # Schema-valid input refused: business rules (an event ends after it starts, a known coin,
                # a strong password) cannot be said in OpenAPI, so this check cannot be zero by design.
                "positive_data_acceptance": {"enabled": False},
            },
            # Readiness answers 503, as documented, when a dependency is down (no beat or worker runs here);
            # so does a price backtest when CoinGecko cannot be reached (no network here).
            "operations": [
                {
                    "include-path-regex": "ready|price-alerts/backtest",
                    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
                }
            ],
        }
    )


@pytest.fixture
def fuzz_data(db, django_user_model, monkeypatch):
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.services import api_token_create
    from alerts.models import AlertRule, PriceTick, Transaction, TransactionAlert
    from alerts.services.price_alerts import price_alert_create
    from alerts.services.transactions import transaction_record
    from events import ingestion
    from events.services import attendee_register
    from eventsys import http
    from eventsys.tests.owned_objects import owned_objects

    # No request leaves the machine: hosts resolve to a public address and every connection is refused.
    monkeypatch.setattr(http, "_resolve", lambda host, port: ("93.184.215.14",))

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no network in the schema fuzz test")

    monkeypatch.setattr(http, "_connect", refuse)
    monkeypatch.setattr("accounts.services.publish_many", lambda messages, what: True)  # password resets
    # Throttles would turn the rest of the run into 429s; the rates are read when a class is defined.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", defaultdict(lambda: "100000/min"))

    now = timezone.now()
    # Staff, so the alert-rule writes are exercised too.
    alice = django_user_model.objects.create_user(username="alice", password="a-Strong-passw0rd", is_staff=True)
    token, plaintext = api_token_create(user=alice, name="fuzz sensor")
    spare_token, _ = api_token_create(user=alice, name="spare")
    PriceTick.objects.create(coin="bitcoin", currency="usd", price=Decimal("65000"), fetched_at=now)
    made = owned_objects(alice, now=now)
    trigger, event = made.trigger, made.event
    attendee, _ = attendee_register(event=event, name="Carol", email="carol@example.com")
    [receipt] = ingestion.ingest(token=token, body={"event_type": "door.opened", "event_payload": {"bay": 1}})
    alert = price_alert_create(owner=alice, coin="bitcoin", target_price=Decimal("70000"))
    transaction_record(owner=alice, user_id=1, type="withdraw", amount=Decimal("200"), time=1)
    ids = {
        "/api/v1/triggers/": {"id": trigger.pk},
        "/api/v1/event-logs/": {"id": trigger.logs.get().pk},
        "/api/v1/events/{event_pk}/attendees/": {"event_pk": event.pk, "id": attendee.pk},
        "/api/v1/events/": {"id": event.pk, "event_pk": event.pk},
        "/api/v1/ingested-events/": {"id": receipt.id},
        "/api/v1/price-alerts/": {"id": alert.pk},
        "/api/v1/transactions/": {"id": Transaction.objects.first().pk},
        "/api/v1/transaction-alerts/": {"id": TransactionAlert.objects.first().pk},
        "/api/v1/alert-rules/": {"id": AlertRule.objects.order_by("id").last().pk},
        "/api/v1/api-tokens/": {"id": spare_token.pk},
        "/trigger/": {"trigger_id": trigger.pk},
        "/events/": {"event_id": str(event.pk)},
    }
    return FuzzData(jwt=str(RefreshToken.for_user(alice).access_token), api_token=plaintext, ids=ids)


@pytest.fixture(autouse=True)
def _requests_share_the_test_transaction(fuzz_data):
    # Requests run in the test's transaction: Django's handler must not close the connection between them
    # (its test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    REAL_IDS.update(fuzz_data.ids)
    yield
    REAL_IDS.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# The schema the service serves, read once at collection (generating it touches no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=_config())


@schema.parametrize()
# The data fixtures are set up once per operation, not per example: examples share (and may change) them.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_passes_every_check(case, fuzz_data):
    token = fuzz_data.api_token if case.operation.path in API_TOKEN_PATHS else fuzz_data.jwt
    try:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    except (AssertionError, BaseExceptionGroup):
        if os.environ.get("SCHEMATHESIS_SURVEY"):
            return
        raise


def teardown_module(module):
    if FAILURES:
        by_check = defaultdict(list)
        for (check, label), details in sorted(FAILURES.items()):
            by_check[check].append((label, details))
        lines = []
        for check, rows in sorted(by_check.items()):
            lines.append(f"{check}: {sum(len(d) for _, d in rows)} on {len(rows)} operations")
            for label, details in rows:
                for detail, example in sorted(details.items()):
                    lines.append(f"    {label}: {detail}")
                    if os.environ.get("SCHEMATHESIS_SURVEY") == "verbose":
                        lines.append(f"        {example}")
        print("\n".join(lines))
