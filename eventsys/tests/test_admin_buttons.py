"""Buttons on an object's own admin page run the admin's action on that object: a price alert's
Re-arm, an event's attendee export (and a trigger's, in triggers/tests/test_admin.py)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse

from alerts.models import PriceAlert
from alerts.services.price_alerts import price_alert_create
from events.services import attendee_register, event_create
from eventsys.tests.owned_objects import owned_objects

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def staff(client, admin_user, settings, monkeypatch):
    monkeypatch.setattr("triggers.services.triggers.enqueue_deliveries_on_commit", lambda *args, **kwargs: None)
    client.force_login(admin_user)
    return client


def test_a_triggered_price_alert_is_re_armed_from_its_page(staff, alice):
    owned_objects(alice, now=NOW)
    alert = price_alert_create(owner=alice, coin="bitcoin", target_price=Decimal("70000"), direction="above")
    PriceAlert.objects.filter(pk=alert.pk).update(
        status="triggered", triggered_at=NOW, triggered_price=Decimal("70100")
    )
    page = staff.get(f"/admin/alerts/pricealert/{alert.pk}/change/").content.decode()
    assert f'action="/admin/alerts/pricealert/{alert.pk}/button/rearm/"' in page

    response = staff.post(f"/admin/alerts/pricealert/{alert.pk}/button/rearm/", follow=True)

    assert "Re-armed the triggered alerts" in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == "created"


def test_an_events_attendees_are_exported_from_its_page(staff, alice):
    event = owned_objects(alice, now=NOW).event
    other = event_create(
        organiser=alice,
        name="Other",
        location="Pune",
        start_time=NOW + timedelta(days=3),
        end_time=NOW + timedelta(days=3, hours=1),
        timezone="UTC",
        max_capacity=5,
    )
    attendee_register(event=event, name="Carol", email="carol@example.com")
    attendee_register(event=other, name="Dan", email="dan@example.com")

    response = staff.post(f"/admin/events/event/{event.pk}/button/export_attendees_csv/")

    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    assert "carol@example.com" in body and "dan@example.com" not in body


def test_only_the_pages_buttons_run_from_it(staff, alice):
    event = owned_objects(alice, now=NOW).event
    assert staff.post(f"/admin/events/event/{event.pk}/button/delete_selected/").status_code == 403
    assert staff.get(f"/admin/events/event/{event.pk}/button/export_attendees_csv/").status_code == 405
