from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from events.models import Attendee, Event
from events.services import attendee_promotion_email_send, attendee_register, event_create
from events.tasks import send_promotion_email

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def event(alice) -> Event:
    return event_create(
        organiser=alice,
        name="Workshop",
        location="Berlin",
        start_time=NOW + timedelta(days=2),
        end_time=NOW + timedelta(days=2, hours=3),
        timezone="Europe/Berlin",
        max_capacity=2,
    )


def register(client, event, **body):
    return client.post(f"/api/v1/events/{event.pk}/attendees/", {"name": "Ann", **body}, format="json")


def test_anyone_registers_and_gets_a_cancel_token_once(api_client, event):
    response = register(api_client, event, email="  Ann@Example.COM ")
    assert response.status_code == 201, response.data
    assert response.data["status"] == "registered" and response.data["position"] is None
    assert response.data["email"] == "ann@example.com"
    assert response.data["cancel_token"] and "waitlist" not in response.data
    assert response.data["created_at"] == "2026-11-23T13:00:00+01:00"  # rendered in the event's zone
    event.refresh_from_db()
    assert event.seats_taken == 1
    assert Attendee.objects.get().cancel_token_hash != response.data["cancel_token"]


def test_the_same_email_normalised_is_409_already_registered(api_client, event):
    register(api_client, event, email="ann@example.com")
    response = register(api_client, event, email=" ANN@example.com")
    assert response.status_code == 409 and response.data["code"] == "already_registered"
    event.refresh_from_db()
    assert event.seats_taken == 1


def test_full_event_is_409_unless_the_waiting_list_is_asked_for(api_client, event):
    register(api_client, event, email="a@example.com")
    register(api_client, event, email="b@example.com")
    full = register(api_client, event, email="c@example.com")
    assert full.status_code == 409 and full.data["code"] == "event_full"
    first = register(api_client, event, email="c@example.com", waitlist=True)
    second = register(api_client, event, email="d@example.com", waitlist=True)
    assert first.status_code == 201 and first.data["status"] == "waitlisted" and first.data["position"] == 1
    assert second.data["position"] == 2
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_length) == (2, 2)


def test_waitlist_flag_is_ignored_while_seats_are_free(api_client, event):
    response = register(api_client, event, email="a@example.com", waitlist=True)
    assert response.data["status"] == "registered"


def test_registration_closes_at_the_start(api_client, event, frozen):
    frozen.move_to(event.start_time)
    response = register(api_client, event, email="late@example.com")
    assert response.status_code == 400 and response.data["code"] == "registration_closed"
    assert not Attendee.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "not-an-email"}, "email"), ({"email": ""}, "email"), ({"name": "", "email": "a@b.co"}, "name")],
)
def test_bad_attendee_input_is_a_400_naming_the_field(api_client, event, body, field):
    response = api_client.post(f"/api/v1/events/{event.pk}/attendees/", {"name": "Ann", **body}, format="json")
    assert response.status_code == 400 and field in response.data
    assert not Attendee.objects.exists()


def test_registering_for_a_missing_event_is_404(api_client):
    assert (
        api_client.post("/api/v1/events/999/attendees/", {"name": "A", "email": "a@b.co"}, format="json").status_code
        == 404
    )


def test_cancel_with_token_promotes_the_first_waitlisted_and_emails_them(
    api_client, event, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(send_promotion_email, "delay", enqueued.append)
    ann = register(api_client, event, email="ann@example.com").data
    register(api_client, event, email="bo@example.com")
    cy = register(api_client, event, email="cy@example.com", waitlist=True).data
    register(api_client, event, email="di@example.com", waitlist=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.delete(
            f"/api/v1/events/{event.pk}/attendees/{ann['id']}/?cancel_token={ann['cancel_token']}"
        )
    assert response.status_code == 204
    statuses = dict(Attendee.objects.values_list("email", "status"))
    assert statuses == {
        "ann@example.com": "cancelled",
        "bo@example.com": "registered",
        "cy@example.com": "registered",
        "di@example.com": "waitlisted",
    }
    event.refresh_from_db()
    assert (event.seats_taken, event.waitlist_length) == (2, 1)
    assert enqueued == [cy["id"]]
    send_promotion_email.run(cy["id"])  # what the worker runs
    [message] = mail.outbox
    assert message.to == ["cy@example.com"] and "Workshop" in message.subject
    assert "14:00" not in message.body and "13:00" in message.body  # the event's local time (Berlin)
    promoted = Attendee.objects.get(pk=cy["id"])
    assert promoted.promoted_at is not None and promoted.promotion_emailed_at is not None
    # di moved up the waiting list
    api_client.force_authenticate(event.organiser)
    listed = api_client.get(f"/api/v1/events/{event.pk}/attendees/?status=waitlisted")
    assert listed.data["results"][0]["position"] == 1


def test_promotion_email_is_sent_once(event):
    attendee, _ = attendee_register(event=event, name="A", email="a@example.com")
    Attendee.objects.filter(pk=attendee.pk).update(promoted_at=NOW)
    assert attendee_promotion_email_send(attendee_id=attendee.pk) is True
    assert send_promotion_email.run(attendee.pk) is False
    assert len(mail.outbox) == 1


def test_promotion_email_is_retried_on_smtp_failure(event, settings, monkeypatch):
    attendee, _ = attendee_register(event=event, name="A", email="a@example.com")

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("events.services.send_mail", refuse)
    retried = []
    monkeypatch.setattr(send_promotion_email, "retry", lambda **kw: retried.append(kw) or RuntimeError("retry"))
    with pytest.raises(RuntimeError):
        send_promotion_email.run(attendee.pk)
    assert retried and retried[0]["countdown"] == 30
    assert Attendee.objects.get().promotion_emailed_at is None


def test_wrong_cancel_token_is_404_and_changes_nothing(api_client, event):
    ann = register(api_client, event, email="ann@example.com").data
    response = api_client.delete(f"/api/v1/events/{event.pk}/attendees/{ann['id']}/?cancel_token=guess")
    assert response.status_code == 404
    assert api_client.delete(f"/api/v1/events/{event.pk}/attendees/{ann['id']}/").status_code == 404
    assert Attendee.objects.get().status == "registered"


def test_cancel_token_in_a_header_works(api_client, event):
    ann = register(api_client, event, email="ann@example.com").data
    response = api_client.delete(
        f"/api/v1/events/{event.pk}/attendees/{ann['id']}/", HTTP_X_CANCEL_TOKEN=ann["cancel_token"]
    )
    assert response.status_code == 204


def test_organiser_cancels_and_may_re_register_the_same_email(api_client, event, alice):
    ann = register(api_client, event, email="ann@example.com").data
    api_client.force_authenticate(alice)
    assert api_client.delete(f"/api/v1/events/{event.pk}/attendees/{ann['id']}/").status_code == 204
    api_client.force_authenticate(None)
    assert register(api_client, event, email="ann@example.com").status_code == 201


def test_the_list_is_the_organisers_only(api_client, event, bob):
    register(api_client, event, email="ann@example.com")
    assert api_client.get(f"/api/v1/events/{event.pk}/attendees/").status_code == 401
    api_client.force_authenticate(bob)
    assert api_client.get(f"/api/v1/events/{event.pk}/attendees/").status_code == 404
    ann = Attendee.objects.get()
    assert api_client.delete(f"/api/v1/events/{event.pk}/attendees/{ann.pk}/").status_code == 404
    assert Attendee.objects.get().status == "registered"


def test_the_list_is_paginated_searchable_with_counts_and_constant_queries(
    api_client, alice, django_assert_max_num_queries
):
    big = event_create(
        organiser=alice,
        name="Big",
        location="Pune",
        start_time=NOW + timedelta(days=1),
        end_time=NOW + timedelta(days=1, hours=1),
        timezone="Asia/Kolkata",
        max_capacity=30,
    )
    for i in range(40):
        attendee_register(event=big, name=f"Person {i}", email=f"p{i}@example.com", waitlist=True)
    api_client.force_authenticate(alice)
    with django_assert_max_num_queries(4):  # event, count, page, (no per-row queries)
        response = api_client.get(f"/api/v1/events/{big.pk}/attendees/?page_size=25&page=2")
    assert response.status_code == 200
    assert response.data["count"] == 40 and len(response.data["results"]) == 15
    assert response.data["counts"] == {"registered": 30, "waitlisted": 10, "seats_left": 0}
    positions = [row["position"] for row in response.data["results"] if row["status"] == "waitlisted"]
    assert positions == list(range(1, 11))
    searched = api_client.get(f"/api/v1/events/{big.pk}/attendees/?search=P3")
    assert {row["email"] for row in searched.data["results"]} == {"p3@example.com"} | {
        f"p3{i}@example.com" for i in range(10)
    }
    assert api_client.get(f"/api/v1/events/{big.pk}/attendees/?page_size=1000").data["count"] == 40
    assert api_client.get(f"/api/v1/events/{big.pk}/attendees/?status=maybe").status_code == 400


def test_raising_capacity_promotes_the_waiting_list(api_client, event, alice):
    for email in ("a@x.io", "b@x.io"):
        attendee_register(event=event, name="A", email=email)
    attendee_register(event=event, name="C", email="c@x.io", waitlist=True)
    api_client.force_authenticate(alice)
    api_client.patch(f"/api/v1/events/{event.pk}/", {"max_capacity": 3}, format="json")
    assert Attendee.objects.get(email="c@x.io").status == "registered"
    too_low = api_client.patch(f"/api/v1/events/{event.pk}/", {"max_capacity": 1}, format="json")
    assert too_low.status_code == 400 and "max_capacity" in too_low.data


def test_registration_is_throttled(api_client, event, settings):
    statuses = [register(api_client, event, email=f"u{i}@example.com", waitlist=True).status_code for i in range(31)]
    assert statuses[-1] == 429
