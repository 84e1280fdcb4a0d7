"""The original event-management service's endpoints (seed 003), answered over events.services."""

from datetime import UTC, datetime, timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator

from events.models import Attendee, Event
from events.services import attendee_cancel, attendee_register, event_create, events_upcoming

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

# Before the seed's example event (2025-06-20 15:30 IST), so that it is upcoming.
NOW = datetime(2025, 6, 1, 6, 30, tzinfo=UTC)

# The seed's curl commands, verbatim: headers and the body as the shell hands it to curl.
CREATE_HEADERS = {"HTTP_TRANSACTIONID": "transaction_1", "HTTP_ISOCOUNTRY": "INDIA"}
ATTENDEE_HEADERS = {"HTTP_TRANSACTIONID": "transation_1", "HTTP_ISOCOUNTRY": "INDIA"}
CREATE_BODY = (
    '{ "payload": {"name":"Shreya Ghosal", "location": "Pune", "start_time": "2025-06-20 15:30", '
    '"end_time": "2025-06-20 18:30", "max_capacity":2}}'
)
REGISTER_BODY = '{ "payload": {"name":"Rohit Sandanshiv", "email": "rssandanshiv782000@gmail.com"}}'
# The seed's documented create payload (its first example).
DOCUMENTED_PAYLOAD = {
    "payload": {
        "name": "Arjit Singh",
        "location": "Pune",
        "start_time": "2025-06-20 15:30",
        "end_time": "2025-06-20 18:30",
        "max_capacity": 1,
    }
}
UNAUTHENTICATED = {"message": "Authentication credentials were not provided.", "status": "error"}
NOT_FOUND = {"message": "Event not found", "status": "error"}
FULL = {"message": "Seats full! Come again for next show", "status": "error"}
DUPLICATE = {"message": "only 1 registration per user", "status": "error"}
REGISTERED = {"message": "Insert Successful...", "status": "success"}


def make_event(organiser, **fields) -> Event:
    defaults = {
        "name": "Sunburn",
        "location": "Goa",
        "start_time": NOW + timedelta(days=5),
        "end_time": NOW + timedelta(days=5, hours=4),
        "timezone": "Asia/Kolkata",
        "max_capacity": 10,
    }
    return event_create(organiser=organiser, **{**defaults, **fields})


def create(client, payload=None, **extra):
    body = {"payload": {**DOCUMENTED_PAYLOAD["payload"], **(payload or {})}}
    return client.post("/events/", body, format="json", **extra)


def register(client, event, name="Ann", email="ann@example.com"):
    return client.post(f"/events/{event.pk}/register", {"payload": {"name": name, "email": email}}, format="json")


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --- The seed's examples, replayed verbatim ----------------------------------------------------


def test_the_seeds_four_curl_commands_replayed_verbatim(api_client, alice, settings):
    # The original needed no token; an operator keeps such clients running with LEGACY_DEFAULT_OWNER.
    settings.LEGACY_DEFAULT_OWNER = "alice"

    created = api_client.post("/events/", CREATE_BODY, content_type="application/json", **CREATE_HEADERS)
    assert created.status_code == 201, created.json()
    event = Event.objects.get()
    assert created.json() == {"message": "Event Created", "event": str(event.pk)}
    assert event.organiser == alice and event.timezone == "Asia/Kolkata" and event.max_capacity == 2
    assert (event.start_time, event.end_time) == (
        datetime(2025, 6, 20, 10, 0, tzinfo=UTC),
        datetime(2025, 6, 20, 13, 0, tzinfo=UTC),
    )

    listed = api_client.get("/events/", content_type="application/json", **CREATE_HEADERS)
    assert listed.status_code == 200
    assert listed.json() == {
        "message": "Events :",
        "sections": [
            {
                "id": str(event.pk),
                "name": "Shreya Ghosal",
                "location": "Pune",
                "start_time": "2025-06-20 15:30",
                "end_time": "2025-06-20 18:30",
                "max_capacity": 2,
            }
        ],
    }

    registered = api_client.post(
        f"/events/{event.pk}/register", REGISTER_BODY, content_type="application/json", **ATTENDEE_HEADERS
    )
    assert (registered.status_code, registered.json()) == (201, REGISTERED)
    attendee = Attendee.objects.get()

    attendees = api_client.get(f"/events/{event.pk}/attendee", content_type="application/json", **ATTENDEE_HEADERS)
    assert attendees.status_code == 200
    assert attendees.json() == {
        "message": "Attendees :",
        "sections": [
            {
                "id": str(attendee.pk),
                "name": "Rohit Sandanshiv",
                "email": "rssandanshiv782000@gmail.com",
                "event_id": str(event.pk),
            }
        ],
    }


def test_the_documented_create_payload_with_a_token(api_client, alice, access_token):
    response = api_client.post("/events/", DOCUMENTED_PAYLOAD, format="json", **bearer(access_token(alice)))
    assert response.status_code == 201
    event = Event.objects.get(name="Arjit Singh")
    assert response.json() == {"message": "Event Created", "event": str(event.pk)}
    assert event.organiser == alice and event.max_capacity == 1
    assert event.start_time == datetime(2025, 6, 20, 10, 0, tzinfo=UTC)


def test_the_seeds_create_curl_without_a_token_is_401_in_the_seeds_style(api_client):
    response = api_client.post("/events/", CREATE_BODY, content_type="application/json", **CREATE_HEADERS)
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)
    assert response["WWW-Authenticate"]
    assert not Event.objects.exists()


def test_the_seeds_attendee_curl_without_a_token_is_401(api_client, alice):
    event = make_event(alice)
    response = api_client.get(f"/events/{event.pk}/attendee", content_type="application/json", **ATTENDEE_HEADERS)
    assert (response.status_code, response.json()) == (401, UNAUTHENTICATED)


# --- Authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        lambda token: {"HTTP_AUTHORIZATION": f"Bearer {token}"},
        lambda token: {"HTTP_AUTHORIZATION": token},
        lambda token: {"HTTP_X_ACCESS_TOKEN": token},
    ],
    ids=["bearer", "bare", "x-access-token"],
)
def test_the_token_in_any_of_the_legacy_headers_creates_as_its_user(api_client, bob, access_token, header):
    response = create(api_client, **header(access_token(bob)))
    assert response.status_code == 201
    assert Event.objects.get().organiser == bob


def test_a_bad_token_is_401_in_the_seeds_style_even_where_none_is_needed(api_client, alice):
    event = make_event(alice)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    for response in (create(api_client), api_client.get("/events/"), register(api_client, event)):
        assert response.status_code == 401
        assert response.json()["status"] == "error" and response.json()["message"]
    assert Event.objects.count() == 1 and not Attendee.objects.exists()


def test_the_list_and_registration_need_no_token_as_in_v1(api_client, alice, settings):
    assert settings.LEGACY_DEFAULT_OWNER == ""
    event = make_event(alice)
    assert api_client.get("/events/").json()["sections"][0]["id"] == str(event.pk)
    assert (register(api_client, event).status_code, Attendee.objects.count()) == (201, 1)


def test_default_owner_creates_and_lists_only_its_own_events(api_client, alice, bob, settings, access_token):
    settings.LEGACY_DEFAULT_OWNER = "alice"
    assert create(api_client).status_code == 201
    mine = Event.objects.get()
    assert mine.organiser == alice
    theirs = make_event(bob)
    assert api_client.get(f"/events/{mine.pk}/attendee").status_code == 200
    assert (api_client.get(f"/events/{theirs.pk}/attendee").json(), Event.objects.count()) == (NOT_FOUND, 2)
    # A token still wins over the default owner.
    assert create(api_client, {"name": "Bob's"}, **bearer(access_token(bob))).status_code == 201
    assert Event.objects.get(name="Bob's").organiser == bob
    assert api_client.get(f"/events/{theirs.pk}/attendee", **bearer(access_token(bob))).status_code == 200


def test_a_default_owner_naming_no_user_is_401(api_client, alice, settings):
    settings.LEGACY_DEFAULT_OWNER = "nobody"
    event = make_event(alice)
    assert (create(api_client).status_code, Event.objects.count()) == (401, 1)
    assert api_client.get(f"/events/{event.pk}/attendee").status_code == 401


def test_someone_elses_attendee_list_is_404_in_the_seeds_style(api_client, alice, bob, access_token):
    event = make_event(alice)
    attendee_register(event=event, name="Ann", email="ann@example.com")
    response = api_client.get(f"/events/{event.pk}/attendee", **bearer(access_token(bob)))
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --- Registration: the service's rules in the seed's words -----------------------------------


def test_a_full_event_refuses_with_409(api_client, alice):
    event = make_event(alice, max_capacity=1)
    assert register(api_client, event, email="a@example.com").status_code == 201
    response = register(api_client, event, email="b@example.com")
    assert (response.status_code, response.json()) == (409, FULL)
    event.refresh_from_db()
    assert event.seats_taken == 1 and list(Attendee.objects.values_list("email", flat=True)) == ["a@example.com"]


def test_the_same_email_in_another_case_is_a_duplicate_409(api_client, alice):
    event = make_event(alice)
    assert register(api_client, event, email="Rohit@Example.com").status_code == 201
    response = register(api_client, event, email="  rohit@EXAMPLE.COM ")
    assert (response.status_code, response.json()) == (409, DUPLICATE)
    event.refresh_from_db()
    assert event.seats_taken == 1 and Attendee.objects.count() == 1


@pytest.mark.parametrize("event_id", ["999", "19f51d4", "99999999999999999999999", "0"])
def test_registering_for_an_unknown_event_is_404_in_the_seeds_style(api_client, alice, event_id):
    make_event(alice)
    response = api_client.post(f"/events/{event_id}/register", {"payload": {"name": "A", "email": "a@b.co"}})
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert not Attendee.objects.exists()


def test_registration_closes_when_the_event_starts(api_client, alice, frozen):
    event = make_event(alice)
    frozen.move_to(event.start_time + timedelta(minutes=1))
    response = register(api_client, event)
    assert response.status_code == 400
    assert response.json() == {"message": "Registration closed when the event started.", "status": "error"}
    assert not Attendee.objects.exists()


def test_registration_shares_v1s_throttle(api_client, alice):
    event = make_event(alice, max_capacity=100)
    for i in range(15):
        assert register(api_client, event, email=f"legacy{i}@example.com").status_code == 201
        v1 = api_client.post(f"/api/v1/events/{event.pk}/attendees/", {"name": "V", "email": f"v1-{i}@example.com"})
        assert v1.status_code == 201
    response = register(api_client, event, email="one-too-many@example.com")
    assert response.status_code == 429
    assert response.json()["status"] == "error" and response.json()["message"].startswith("Request was throttled")
    assert Attendee.objects.count() == 30


# --- Bad input: 400 in the seed's style, nothing written -------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "payload"),
        ({"name": "Not wrapped", "location": "Pune"}, "payload"),
        ({"payload": None}, "payload"),
        ({"payload": "Shreya Ghosal"}, "payload.non_field_errors"),
        ({"payload": [1, 2]}, "payload.non_field_errors"),
        ([{"payload": {}}], "non_field_errors"),
    ],
)
def test_a_missing_or_non_object_payload_is_400(api_client, alice, access_token, body, field):
    response = api_client.post("/events/", body, format="json", **bearer(access_token(alice)))
    assert response.status_code == 400
    assert response.json()["status"] == "error" and response.json()["message"] == "Invalid input."
    assert field in response.json()["errors"]
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"location": ""}, "location"),
        ({"start_time": "2025-06-20T15:30"}, "start_time"),
        ({"start_time": "20/06/2025 15:30"}, "start_time"),
        ({"start_time": 1750413600}, "start_time"),
        ({"end_time": "soon"}, "end_time"),
        ({"end_time": "2025-06-20 15:00"}, "end_time"),
        ({"end_time": "2025-06-20 15:30"}, "end_time"),
        ({"max_capacity": 0}, "max_capacity"),
        ({"max_capacity": -2}, "max_capacity"),
        ({"max_capacity": 2.5}, "max_capacity"),
        ({"max_capacity": "lots"}, "max_capacity"),
        ({"max_capacity": None}, "max_capacity"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        (
            {"start_time": "9999-12-31 23:00", "end_time": "9999-12-31 23:30", "timezone": "America/New_York"},
            "start_time",
        ),
    ],
)
def test_bad_event_fields_are_400_naming_the_field(api_client, alice, access_token, payload, field):
    response = create(api_client, payload, **bearer(access_token(alice)))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["message"], body["status"]) == ("Invalid input.", "error")
    assert f"payload.{field}" in body["errors"]
    assert not Event.objects.exists()


def test_missing_event_fields_are_each_named(api_client, alice, access_token):
    response = api_client.post("/events/", {"payload": {}}, format="json", **bearer(access_token(alice)))
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        f"payload.{name}" for name in ("name", "location", "start_time", "end_time", "max_capacity")
    }


def test_malformed_json_is_400_in_the_seeds_style(api_client, alice, access_token):
    response = api_client.post(
        "/events/", '{ "payload": {"name": "x",', content_type="application/json", **bearer(access_token(alice))
    )
    assert response.status_code == 400
    assert response.json()["status"] == "error" and response.json()["message"].startswith("JSON parse error")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "payload"),
        ({"payload": []}, "payload.non_field_errors"),
        ({"payload": {"name": "Ann"}}, "payload.email"),
        ({"payload": {"name": "Ann", "email": "not-an-email"}}, "payload.email"),
        ({"payload": {"email": "ann@example.com"}}, "payload.name"),
        ({"payload": {"name": "", "email": "ann@example.com"}}, "payload.name"),
    ],
)
def test_bad_registrations_are_400_naming_the_field(api_client, alice, body, field):
    event = make_event(alice)
    response = api_client.post(f"/events/{event.pk}/register", body, format="json")
    assert response.status_code == 400
    assert response.json()["status"] == "error" and field in response.json()["errors"]
    assert not Attendee.objects.exists()


@pytest.mark.parametrize(
    "query", ["page=0", "page=x", "page=", "limit=0", "limit=-1", "limit=ten", "limit=", "page=10000000000000"]
)
def test_bad_paging_is_400(api_client, alice, access_token, query):
    event = make_event(alice)
    for url, headers in (
        (f"/events/?{query}", {}),
        (f"/events/{event.pk}/attendee?{query}", bearer(access_token(alice))),
    ):
        response = api_client.get(url, **headers)
        assert response.status_code == 400
        assert response.json()["status"] == "error" and set(response.json()["errors"]) <= {"page", "limit"}


# --- Lists -----------------------------------------------------------------------------------


def test_the_list_shows_upcoming_events_of_everyone_in_their_own_zones(api_client, alice, bob):
    make_event(alice, name="Over", start_time=NOW - timedelta(hours=3), end_time=NOW - timedelta(seconds=1))
    under_way = make_event(
        alice, name="Under way", start_time=NOW - timedelta(hours=1), end_time=NOW + timedelta(hours=1)
    )
    london = make_event(
        bob,
        name="London",
        location="London",
        start_time=datetime(2025, 6, 3, 17, 0, tzinfo=UTC),
        end_time=datetime(2025, 6, 3, 20, 30, tzinfo=UTC),
        timezone="Europe/London",
    )
    sections = api_client.get("/events/").json()["sections"]
    assert [row["name"] for row in sections] == ["Under way", "London"]
    assert sections[0]["id"] == str(under_way.pk)
    assert sections[1] == {
        "id": str(london.pk),
        "name": "London",
        "location": "London",
        "start_time": "2025-06-03 18:00",
        "end_time": "2025-06-03 21:30",
        "max_capacity": 10,
    }


def test_an_empty_list_has_no_sections(api_client):
    assert api_client.get("/events/").json() == {"message": "Events :", "sections": []}


def test_the_events_list_pages_with_a_capped_limit_and_constant_queries(
    api_client, alice, settings, django_assert_max_num_queries
):
    settings.API_MAX_PAGE_SIZE = 25
    events = [make_event(alice, name=f"e{i}", start_time=NOW + timedelta(days=1, minutes=i)) for i in range(30)]
    ids = [str(event.pk) for event in events]
    with django_assert_max_num_queries(1):
        first = api_client.get("/events/")
    assert [row["id"] for row in first.json()["sections"]] == ids[:25]  # default: as many as allowed
    assert [row["id"] for row in api_client.get("/events/?page=2&limit=7").json()["sections"]] == ids[7:14]
    assert [row["id"] for row in api_client.get("/events/?page=2&limit=1000").json()["sections"]] == ids[25:]
    assert api_client.get("/events/?page=9").json()["sections"] == []


def test_the_attendee_list_pages_registered_people_with_constant_queries(
    api_client, alice, access_token, settings, django_assert_max_num_queries
):
    settings.API_MAX_PAGE_SIZE = 12
    event = make_event(alice, max_capacity=25)
    people = [attendee_register(event=event, name=f"P{i}", email=f"p{i}@example.com")[0] for i in range(25)]
    promoted, _ = attendee_register(event=event, name="W1", email="w1@example.com", waitlist=True)
    attendee_register(event=event, name="W2", email="w2@example.com", waitlist=True)
    attendee_cancel(attendee=people[0])  # W1 takes the seat; W2 stays on the waiting list
    ids = [str(person.pk) for person in [*people[1:], promoted]]
    token = bearer(access_token(alice))
    with django_assert_max_num_queries(3):  # the user, the event, the page
        first = api_client.get(f"/events/{event.pk}/attendee", **token)
    assert [row["id"] for row in first.json()["sections"]] == ids[:10]  # the original's default limit
    assert first.json()["sections"][0] == {
        "id": ids[0],
        "name": "P1",
        "email": "p1@example.com",
        "event_id": str(event.pk),
    }
    third = api_client.get(f"/events/{event.pk}/attendee?page=3&limit=10", **token).json()["sections"]
    assert [row["id"] for row in third] == ids[20:]  # neither the waiting list nor the cancelled
    assert len(third) == 5
    capped = api_client.get(f"/events/{event.pk}/attendee?limit=1000", **token).json()["sections"]
    assert [row["id"] for row in capped] == ids[:12]


def test_upcoming_means_not_yet_ended(alice):
    # The service the legacy list filters with: an event under way, or ending this instant, is upcoming.
    ended = make_event(alice, start_time=NOW - timedelta(hours=2), end_time=NOW - timedelta(microseconds=1))
    ending = make_event(alice, start_time=NOW - timedelta(hours=2), end_time=NOW)
    later = make_event(alice)
    assert set(events_upcoming(Event.objects.all(), now=NOW)) == {ending, later}
    assert set(events_upcoming(Event.objects.all(), now=NOW - timedelta(hours=3))) == {ended, ending, later}
    assert set(events_upcoming(Event.objects.all())) == {ending, later}  # now: the (frozen) clock


# --- One set of objects for legacy and /api/v1/ clients ------------------------------------


def test_an_event_created_by_a_legacy_client_is_the_one_v1_shows(api_client, client_alice, alice, access_token):
    event_id = create(api_client, {"timezone": "Europe/Berlin"}, **bearer(access_token(alice))).json()["event"]
    shown = client_alice.get(f"/api/v1/events/{event_id}/").json()
    assert shown["name"] == "Arjit Singh" and shown["timezone"] == "Europe/Berlin"
    assert (shown["start_time"], shown["end_time"]) == ("2025-06-20T15:30:00+02:00", "2025-06-20T18:30:00+02:00")
    assert shown["max_capacity"] == 1


def test_the_legacy_list_and_v1_list_show_the_same_events(api_client, client_alice, alice):
    make_event(alice, name="Over", start_time=NOW - timedelta(hours=3), end_time=NOW - timedelta(seconds=1))
    make_event(alice, name="Under way", start_time=NOW - timedelta(hours=1), end_time=NOW + timedelta(hours=1))
    response = client_alice.post(
        "/api/v1/events/",
        {
            "name": "From v1",
            "location": "Mumbai",
            "start_time": "2025-06-10T19:00:00",
            "end_time": "2025-06-10T22:00:00",
            "timezone": "Asia/Kolkata",
            "max_capacity": 5,
        },
        format="json",
    )
    assert response.status_code == 201
    v1_ids = [str(row["id"]) for row in client_alice.get("/api/v1/events/").json()["results"]]
    sections = api_client.get("/events/").json()["sections"]
    assert [row["id"] for row in sections] == v1_ids and len(v1_ids) == 2
    assert sections[1]["name"] == "From v1"
    assert (sections[1]["start_time"], sections[1]["end_time"]) == ("2025-06-10 19:00", "2025-06-10 22:00")


def test_registrations_are_shared_between_legacy_and_v1(api_client, client_alice, alice, access_token):
    event = make_event(alice, max_capacity=2)
    assert register(api_client, event, name="Legacy", email="Legacy@Example.com").status_code == 201
    v1_registered = api_client.post(
        f"/api/v1/events/{event.pk}/attendees/", {"name": "Modern", "email": "modern@example.com"}, format="json"
    )
    assert v1_registered.status_code == 201
    seen_by_v1 = client_alice.get(f"/api/v1/events/{event.pk}/attendees/").json()["results"]
    seen_by_legacy = api_client.get(f"/events/{event.pk}/attendee", **bearer(access_token(alice))).json()["sections"]
    assert [(str(row["id"]), row["email"]) for row in seen_by_v1] == [
        (row["id"], row["email"]) for row in seen_by_legacy
    ]
    assert [row["email"] for row in seen_by_legacy] == ["legacy@example.com", "modern@example.com"]
    # v1 filled the last seat: the legacy route sees the event full.
    assert register(api_client, event, email="third@example.com").json() == FULL


# --- OpenAPI ---------------------------------------------------------------------------------


def test_the_routes_are_in_the_schema_under_the_legacy_tag():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    operations = {
        ("/events/", "get"): "legacy_events_list",
        ("/events/", "post"): "legacy_events_create",
        ("/events/{event_id}/register", "post"): "legacy_events_register",
        ("/events/{event_id}/attendee", "get"): "legacy_events_attendees",
    }
    for (route, method), operation_id in operations.items():
        operation = paths[route][method]
        assert (operation["operationId"], operation["tags"]) == (operation_id, ["legacy"])
