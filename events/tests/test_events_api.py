from datetime import UTC, datetime, timedelta

import pytest

from events.models import Event
from events.services import event_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def make_event(organiser, **fields) -> Event:
    defaults = {
        "name": "PyCon Pune",
        "location": "Pune",
        "start_time": NOW + timedelta(days=10),
        "end_time": NOW + timedelta(days=10, hours=8),
        "timezone": "Asia/Kolkata",
        "max_capacity": 50,
    }
    return event_create(organiser=organiser, **{**defaults, **fields})


def post(client, **body):
    defaults = {
        "name": "Meetup",
        "location": "London",
        "start_time": "2026-04-01T18:00:00+01:00",
        "end_time": "2026-04-01T21:00:00+01:00",
        "timezone": "Europe/London",
        "max_capacity": 30,
    }
    return client.post("/api/v1/events/", {**defaults, **body}, format="json")


def test_create_with_offsets_taken_as_given_and_rendered_in_the_events_zone(api_client, alice):
    api_client.force_authenticate(alice)
    response = post(api_client)
    assert response.status_code == 201, response.data
    assert response.data["start_time"] == "2026-04-01T18:00:00+01:00"
    event = Event.objects.get()
    assert event.start_time == datetime(2026, 4, 1, 17, 0, tzinfo=UTC)
    assert response.data["seats_taken"] == 0 and response.data["seats_left"] == 30
    assert response.data["waitlist_length"] == 0


def test_times_without_offset_are_read_in_the_events_zone(api_client, alice):
    api_client.force_authenticate(alice)
    response = post(
        api_client, start_time="2026-04-01T10:00:00", end_time="2026-04-01T12:00:00", timezone="Asia/Kolkata"
    )
    assert response.status_code == 201, response.data
    # As the original service did with IST, by setting the zone.
    assert Event.objects.get().start_time == datetime(2026, 4, 1, 4, 30, tzinfo=UTC)
    assert response.data["start_time"] == "2026-04-01T10:00:00+05:30"


def test_local_times_across_the_spring_change_keep_their_wall_clock(api_client, alice):
    api_client.force_authenticate(alice)
    before = post(api_client, start_time="2026-03-28T09:00:00", end_time="2026-03-28T10:00:00")
    after = post(api_client, start_time="2026-03-29T09:00:00", end_time="2026-03-29T10:00:00")
    assert before.data["start_time"] == "2026-03-28T09:00:00+00:00"
    assert after.data["start_time"] == "2026-03-29T09:00:00+01:00"
    starts = sorted(Event.objects.values_list("start_time", flat=True))
    assert starts == [datetime(2026, 3, 28, 9, 0, tzinfo=UTC), datetime(2026, 3, 29, 8, 0, tzinfo=UTC)]


def test_tz_query_parameter_renders_in_any_zone(api_client, alice):
    event = make_event(
        alice, start_time=datetime(2026, 4, 1, 4, 30, tzinfo=UTC), end_time=datetime(2026, 4, 1, 6, 30, tzinfo=UTC)
    )
    response = api_client.get(f"/api/v1/events/{event.pk}/?tz=America/New_York")
    assert response.status_code == 200
    assert response.data["start_time"] == "2026-04-01T00:30:00-04:00"
    default = api_client.get(f"/api/v1/events/{event.pk}/")
    assert default.data["start_time"] == "2026-04-01T10:00:00+05:30"
    listed = api_client.get("/api/v1/events/?tz=UTC")
    assert listed.data["results"][0]["start_time"] == "2026-04-01T04:30:00+00:00"


def test_unknown_tz_parameter_is_400(api_client, alice):
    event = make_event(alice)
    response = api_client.get(f"/api/v1/events/{event.pk}/?tz=Mars/Olympus")
    assert response.status_code == 400 and "tz" in response.data


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end_time": "2026-04-01T17:00:00+01:00"}, "end_time"),
        ({"end_time": "2026-04-01T18:00:00+01:00"}, "end_time"),
        ({"max_capacity": 0}, "max_capacity"),
        ({"max_capacity": -5}, "max_capacity"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": ""}, "name"),
        ({"start_time": "soon"}, "start_time"),
        ({"max_capacity": "lots"}, "max_capacity"),
    ],
)
def test_bad_event_input_is_a_400_naming_the_field(api_client, alice, body, field):
    api_client.force_authenticate(alice)
    response = post(api_client, **body)
    assert response.status_code == 400, response.data
    assert field in response.data
    assert not Event.objects.exists()


def test_listing_is_public_upcoming_by_default_with_search_and_ordering(api_client, alice):
    make_event(
        alice,
        name="Django Day",
        location="Copenhagen",
        start_time=NOW + timedelta(days=3),
        end_time=NOW + timedelta(days=3, hours=2),
    )
    make_event(
        alice,
        name="Flask Night",
        location="Pune",
        start_time=NOW + timedelta(days=1),
        end_time=NOW + timedelta(days=1, hours=2),
    )
    make_event(
        alice, name="Old Summit", location="Pune", start_time=NOW - timedelta(days=5), end_time=NOW - timedelta(days=4)
    )
    names = [e["name"] for e in api_client.get("/api/v1/events/").data["results"]]
    assert names == ["Flask Night", "Django Day"]
    assert [e["name"] for e in api_client.get("/api/v1/events/?when=past").data["results"]] == ["Old Summit"]
    assert api_client.get("/api/v1/events/?when=all").data["count"] == 3
    assert [e["name"] for e in api_client.get("/api/v1/events/?search=pune&when=all").data["results"]] == [
        "Old Summit",
        "Flask Night",
    ]
    assert [e["name"] for e in api_client.get("/api/v1/events/?ordering=-start_time").data["results"]] == [
        "Django Day",
        "Flask Night",
    ]
    assert api_client.get("/api/v1/events/?when=tomorrow").status_code == 400
    assert api_client.get("/api/v1/events/?colour=red").status_code == 400


def test_list_query_count_is_constant(api_client, alice, django_assert_max_num_queries):
    for i in range(30):
        make_event(alice, name=f"e{i}")
    with django_assert_max_num_queries(2):
        response = api_client.get("/api/v1/events/?page_size=30")
    assert len(response.data["results"]) == 30


def test_writes_are_the_organisers_and_others_get_404(api_client, alice, bob):
    event = make_event(alice)
    api_client.force_authenticate(bob)
    assert api_client.get(f"/api/v1/events/{event.pk}/").status_code == 200  # public read
    assert api_client.patch(f"/api/v1/events/{event.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert api_client.delete(f"/api/v1/events/{event.pk}/").status_code == 404
    api_client.force_authenticate(None)
    assert post(api_client).status_code == 401
    event.refresh_from_db()
    assert event.name == "PyCon Pune"


def test_organiser_updates_and_deletes(api_client, alice):
    event = make_event(alice)
    api_client.force_authenticate(alice)
    response = api_client.patch(
        f"/api/v1/events/{event.pk}/", {"max_capacity": 60, "name": "PyCon India"}, format="json"
    )
    assert response.status_code == 200 and response.data["max_capacity"] == 60
    bad = api_client.patch(f"/api/v1/events/{event.pk}/", {"end_time": "2026-03-01T00:00:00Z"}, format="json")
    assert bad.status_code == 400 and "end_time" in bad.data
    assert api_client.delete(f"/api/v1/events/{event.pk}/").status_code == 204


def test_ics_has_a_stable_uid_and_bumps_sequence_when_times_change(api_client, alice):
    event = make_event(alice, name="Sprint; day, one", description="Bring a laptop\nand coffee")
    first = api_client.get(f"/api/v1/events/{event.pk}/ics")
    assert first.status_code == 200 and first["Content-Type"].startswith("text/calendar")
    body = first.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert f"UID:{event.uid}@eventsys" in body and "SEQUENCE:0" in body
    assert "DTSTART:20260330T120000Z" in body
    assert "SUMMARY:Sprint\\; day\\, one" in body and "DESCRIPTION:Bring a laptop\\nand coffee" in body

    api_client.force_authenticate(alice)
    api_client.patch(f"/api/v1/events/{event.pk}/", {"name": "renamed"}, format="json")
    assert "SEQUENCE:0" in api_client.get(f"/api/v1/events/{event.pk}/ics").content.decode()
    api_client.patch(f"/api/v1/events/{event.pk}/", {"start_time": "2026-03-30T13:00:00Z"}, format="json")
    moved = api_client.get(f"/api/v1/events/{event.pk}/ics").content.decode()
    assert "SEQUENCE:1" in moved and f"UID:{event.uid}@eventsys" in moved
    assert "DTSTART:20260330T130000Z" in moved


def test_ics_folds_long_lines():
    from events.calendar import _fold

    folded = _fold("DESCRIPTION:" + "é" * 100)
    assert all(len(line.encode()) <= 75 for line in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == "DESCRIPTION:" + "é" * 100


def test_put_keeps_an_omitted_time_zone(api_client, alice):
    event = make_event(alice)
    api_client.force_authenticate(alice)
    body = {
        "name": "PyCon Pune",
        "location": "Pune",
        "start_time": "2026-04-01T10:00:00",
        "end_time": "2026-04-01T18:00:00",
        "max_capacity": 50,
    }
    response = api_client.put(f"/api/v1/events/{event.pk}/", body, format="json")
    assert response.status_code == 200, response.data
    assert response.data["timezone"] == "Asia/Kolkata"
    assert response.data["start_time"] == "2026-04-01T10:00:00+05:30"


def test_times_at_the_edge_of_the_calendar_are_400s(api_client, alice):
    api_client.force_authenticate(alice)
    response = post(
        api_client, start_time="9999-12-31T23:00:00", end_time="9999-12-31T23:30:00", timezone="America/New_York"
    )
    assert response.status_code == 400
