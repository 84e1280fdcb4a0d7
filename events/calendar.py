"""iCalendar (RFC 5545) rendering of an event."""

from datetime import UTC, datetime

from events.models import Event

PRODID = "-//eventsys//events//EN"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event_ics(event: Event) -> str:
    """A VCALENDAR with one VEVENT: a stable UID, times in UTC, SEQUENCE from the event's time changes."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{event.uid}@eventsys",
        f"DTSTAMP:{_utc(event.updated_at)}",
        f"DTSTART:{_utc(event.start_time)}",
        f"DTEND:{_utc(event.end_time)}",
        f"SEQUENCE:{event.sequence}",
        f"SUMMARY:{_escape(event.name)}",
        f"LOCATION:{_escape(event.location)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{_escape(event.description)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
