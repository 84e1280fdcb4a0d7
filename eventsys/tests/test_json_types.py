"""A JSON body's values must have the type the schema names: text is text, a flag is true or false,
a count is a number. DRF reads 5 as the text "5" and "5" as the number 5; here such a body is a 400
naming the field and nothing is stored. A form (the browsable API's) is all text and keeps DRF's
parsing; a decimal is read from text or from a JSON number, as the schema says."""

import json
from datetime import UTC, datetime

import pytest
from rest_framework import serializers

from accounts.models import ApiToken
from alerts.models import Transaction
from events.models import Event
from eventsys.api.fields import StrictCharField, StrictIntegerField
from triggers.models import Trigger

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 12, 1, tzinfo=UTC)  # the bodies' times are in its future

EVENT = {
    "name": "PyCon Pune",
    "location": "Pune",
    "start_time": "2027-06-20T10:00:00Z",
    "end_time": "2027-06-20T18:00:00Z",
    "max_capacity": 50,
}
TRIGGER = {
    "name": "every 30 minutes",
    "trigger_type": "scheduled",
    "schedule_time": "2027-01-01T09:00:00Z",
    "interval": 30,
    "is_recurring": True,
}


def post_json(client, path, body, method="post", **headers):
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    ("path", "body", "field", "model"),
    [
        ("/api/v1/api-tokens/", {"name": 5}, "name", ApiToken),
        ("/api/v1/api-tokens/", {"name": True}, "name", ApiToken),
        ("/api/v1/events/", {**EVENT, "name": 2027}, "name", Event),
        ("/api/v1/events/", {**EVENT, "max_capacity": "50"}, "max_capacity", Event),
        ("/api/v1/events/", {**EVENT, "max_capacity": True}, "max_capacity", Event),
        ("/api/v1/triggers/", {**TRIGGER, "is_recurring": 1}, "is_recurring", Trigger),
        ("/api/v1/triggers/", {**TRIGGER, "is_recurring": "true"}, "is_recurring", Trigger),
        ("/api/v1/triggers/", {**TRIGGER, "interval": "30"}, "interval", Trigger),
        ("/api/v1/triggers/", {**TRIGGER, "name": 30}, "name", Trigger),
        ("/api/v1/events/", {**EVENT, "location": 5}, "location", Event),
        (
            "/api/v1/transactions/",
            {"type": "deposit", "amount": True, "user_id": 1, "time": 1},
            "amount",
            Transaction,
        ),
        (
            "/api/v1/transactions/",
            {"type": "deposit", "amount": "10", "user_id": "1", "time": 1},
            "user_id",
            Transaction,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_value_of_the_wrong_json_type_is_a_400_naming_the_field(client_alice, path, body, field, model):
    response = post_json(client_alice, path, body)

    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not model.objects.exists()


def test_patch_with_a_number_for_text_is_refused_and_changes_nothing(client_alice, alice):
    response = post_json(client_alice, "/api/v1/auth/me/", {"first_name": 42}, method="patch")

    assert response.status_code == 400
    assert response.json()["first_name"] == ["Not a valid string."]
    alice.refresh_from_db()
    assert alice.first_name == ""


def test_a_decimal_may_be_text_or_a_json_number(client_alice):
    as_text = post_json(
        client_alice, "/api/v1/transactions/", {"type": "deposit", "amount": "42.50", "user_id": 1, "time": 1}
    )
    as_number = post_json(
        client_alice, "/api/v1/transactions/", {"type": "deposit", "amount": 42.5, "user_id": 1, "time": 2}
    )

    assert (as_text.status_code, as_number.status_code) == (200, 200)
    assert [str(amount) for amount in Transaction.objects.order_by("time").values_list("amount", flat=True)] == [
        "42.50",
        "42.50",
    ]


def test_a_form_is_text_and_keeps_drf_parsing(client_alice):
    """The browsable API posts forms: every value is text there, numbers and flags included."""
    event = client_alice.post("/api/v1/events/", {**EVENT, "max_capacity": "50"}, format="multipart")
    trigger = client_alice.post("/api/v1/triggers/", {**TRIGGER, "is_recurring": "true"}, format="multipart")

    assert (event.status_code, trigger.status_code) == (201, 201), (event.content, trigger.content)
    assert Event.objects.get().max_capacity == 50
    assert Trigger.objects.get().schedule_type == Trigger.ScheduleType.INTERVAL


def test_the_legacy_trigger_route_takes_the_flag_as_its_list_shows_it(api_client, alice, access_token, settings):
    """The original's list shows is_recurring as 1 or 0; a client may send it back so (and the schema says so)."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    headers = {"Authorization": access_token(alice)}
    one = post_json(api_client, "/trigger/create-trigger", {**TRIGGER, "is_recurring": 1}, **headers)
    zero = post_json(api_client, "/trigger/create-trigger", {**TRIGGER, "is_recurring": 0, "interval": None}, **headers)
    two = post_json(api_client, "/trigger/create-trigger", {**TRIGGER, "is_recurring": 2}, **headers)
    text = post_json(api_client, "/trigger/create-trigger", {**TRIGGER, "is_recurring": "1"}, **headers)

    assert (one.status_code, zero.status_code, two.status_code, text.status_code) == (201, 201, 400, 400)
    assert sorted(Trigger.objects.values_list("schedule_type", flat=True)) == ["interval", "one_off"]


def test_list_members_are_checked_too():
    class Tags(serializers.Serializer):
        tags = serializers.ListField(child=StrictCharField())
        sizes = serializers.ListField(child=StrictIntegerField())

    tags = Tags(data={"tags": ["a", 5], "sizes": [1, "2"]})

    assert not tags.is_valid()
    assert tags.errors == {"tags": {1: ["Not a valid string."]}, "sizes": {1: ["A valid integer is required."]}}


def test_an_integral_float_is_the_integer_json_schema_says_it_is(client_alice):
    response = post_json(client_alice, "/api/v1/events/", {**EVENT, "max_capacity": 50.0})

    assert response.status_code == 201
    assert Event.objects.get().max_capacity == 50
