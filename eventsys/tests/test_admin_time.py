"""The admin shows times to the second with their zone: an event's in its own zone, the rest in UTC."""

from datetime import UTC, datetime, timedelta

import pytest

from events import services
from events.models import Event
from eventsys.admin_time import in_zone

pytestmark = pytest.mark.django_db

NOON_THIRTY_UTC = datetime(2026, 12, 2, 12, 30, tzinfo=UTC)  # 18:00 in Kolkata (UTC+05:30)


@pytest.fixture
def kolkata_event(admin_user) -> Event:
    return services.event_create(
        organiser=admin_user,
        name="PyCon Pune",
        location="Pune",
        start_time=NOON_THIRTY_UTC,
        end_time=datetime(2026, 12, 2, 20, 30, tzinfo=UTC),
        timezone="Asia/Kolkata",
        max_capacity=100,
    )


def _change_form(event: Event, **changes) -> dict:
    """The change page's fields as a browser posts them, with `changes` applied."""
    return {
        "organiser": event.organiser_id,
        "name": event.name,
        "location": event.location,
        "description": event.description,
        "max_capacity": event.max_capacity,
        "start_time_0": "2026-12-02",
        "start_time_1": "18:00:00",
        "end_time_0": "2026-12-03",
        "end_time_1": "02:00:00",
        "timezone": event.timezone,
        "attendees-TOTAL_FORMS": 0,
        "attendees-INITIAL_FORMS": 0,
        "_save": "Save",
        **changes,
    }


def test_in_zone_labels_the_time_with_its_zone():
    assert in_zone(NOON_THIRTY_UTC, "Asia/Kolkata") == "2026-12-02 18:00:00 IST"
    assert in_zone(NOON_THIRTY_UTC, "Asia/Kathmandu") == "2026-12-02 18:15:00 +0545"  # no abbreviation
    assert in_zone(NOON_THIRTY_UTC, "Not/AZone") == "2026-12-02 12:30:00 UTC"
    assert in_zone(NOON_THIRTY_UTC, "../../etc/passwd") == "2026-12-02 12:30:00 UTC"
    assert in_zone(None, "Asia/Kolkata") == "-"


def test_the_event_list_shows_times_in_the_events_zone(admin_client, kolkata_event):
    page = admin_client.get("/admin/events/event/").content.decode()

    assert '2026-12-02</span> <span class="nowrap">18:00:00 IST' in page
    assert "12:30:00" not in page


def test_the_event_list_sorts_by_start_time(admin_client, kolkata_event):
    response = admin_client.get("/admin/events/event/?o=3")  # the "starts" column
    assert response.status_code == 200
    assert "18:00:00 IST" in response.content.decode()


def test_the_change_page_shows_and_names_the_events_zone(admin_client, kolkata_event):
    page = admin_client.get(f"/admin/events/event/{kolkata_event.pk}/change/").content.decode()

    assert 'name="start_time_1" value="18:00:00"' in page
    assert 'name="end_time_1" value="02:00:00"' in page  # 20:30 UTC is 02:00 the next day in Kolkata
    assert "Times are in Asia/Kolkata (IST)." in page
    assert "IST" in page.split('class="form-row field-created_at')[1][:600]  # read-only times too


def test_times_entered_on_the_change_page_are_read_in_the_events_zone(admin_client, kolkata_event):
    response = admin_client.post(
        f"/admin/events/event/{kolkata_event.pk}/change/", _change_form(kolkata_event, start_time_1="19:00:00")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    kolkata_event.refresh_from_db()
    assert kolkata_event.start_time == datetime(2026, 12, 2, 13, 30, tzinfo=UTC)
    assert kolkata_event.end_time == datetime(2026, 12, 2, 20, 30, tzinfo=UTC)  # unchanged
    assert kolkata_event.sequence == 1  # the times moved: calendars are told


def test_times_entered_with_a_new_zone_are_read_in_that_zone(admin_client, kolkata_event):
    response = admin_client.post(
        f"/admin/events/event/{kolkata_event.pk}/change/",
        _change_form(kolkata_event, timezone="Europe/London", start_time_1="19:00:00"),
    )

    assert response.status_code == 302
    kolkata_event.refresh_from_db()
    assert kolkata_event.timezone == "Europe/London"
    assert kolkata_event.start_time == datetime(2026, 12, 2, 19, 0, tzinfo=UTC)  # GMT in December


def test_an_invalid_zone_is_refused_on_the_form(admin_client, kolkata_event):
    response = admin_client.post(
        f"/admin/events/event/{kolkata_event.pk}/change/", _change_form(kolkata_event, timezone="Mars/Olympus")
    )

    assert response.status_code == 200
    assert "Enter an IANA time zone" in response.content.decode()
    kolkata_event.refresh_from_db()
    assert (kolkata_event.timezone, kolkata_event.start_time) == ("Asia/Kolkata", NOON_THIRTY_UTC)


def test_the_add_page_reads_times_in_the_zone_entered(admin_client, admin_user):
    form = _change_form(Event(organiser=admin_user, name="Launch", location="Kolkata", max_capacity=10))
    response = admin_client.post("/admin/events/event/add/", {**form, "timezone": "Asia/Kolkata"})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Event.objects.get(name="Launch").start_time == NOON_THIRTY_UTC
    assert "Times are in UTC." in admin_client.get("/admin/events/event/add/").content.decode()


def test_a_stored_zone_that_is_not_a_zone_shows_utc_and_does_not_break_the_pages(admin_client, kolkata_event):
    Event.objects.filter(pk=kolkata_event.pk).update(timezone="Bogus/Zone")

    listing = admin_client.get("/admin/events/event/")
    change = admin_client.get(f"/admin/events/event/{kolkata_event.pk}/change/")

    assert listing.status_code == change.status_code == 200
    assert "12:30:00 UTC" in listing.content.decode()
    assert 'name="start_time_1" value="12:30:00"' in change.content.decode()
    assert "Times are in UTC." in change.content.decode()


def test_other_lists_label_their_times_utc(admin_client, kolkata_event):
    from events.models import IngestedEvent

    services.attendee_register(
        event=kolkata_event, name="Asha", email="asha@example.com", now=NOON_THIRTY_UTC - timedelta(days=1)
    )
    IngestedEvent.objects.create(
        owner=kolkata_event.organiser, event_type="ping", body_hash="0" * 64, received_at=NOON_THIRTY_UTC
    )

    assert "12:30:00 UTC" in admin_client.get("/admin/events/ingestedevent/").content.decode()
    attendees = admin_client.get("/admin/events/attendee/").content.decode()
    assert " UTC</span>" in attendees
    attendee = kolkata_event.attendees.get()
    # the global format (eventsys/formats): a read-only time on a page without a zone of its own
    page = admin_client.get(f"/admin/events/attendee/{attendee.pk}/change/").content.decode()
    assert f"{attendee.created_at:%Y-%m-%d %H:%M:%S} UTC" in page
