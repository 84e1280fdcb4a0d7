"""Events and attendees: every write and rule, with seats serialised by the event's row lock.

`select_for_update()` on the event makes registrations, cancellations and capacity changes for
one event run one at a time on PostgreSQL. On SQLite it is a no-op, but IMMEDIATE transactions
serialise all writers, so the result is the same (only slower). The unique constraint on
(event, email) and the check constraint seats_taken <= max_capacity back both rules up.
"""

import hashlib
import hmac
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from events.models import Attendee, Event
from eventsys.api.errors import Conflict, DomainError
from eventsys.service_arguments import reject_unknown_fields

EVENT_FIELDS = {"name", "location", "description", "start_time", "end_time", "timezone", "max_capacity"}


class AlreadyRegistered(Conflict):
    code = "already_registered"
    default_detail = "This e-mail address is already registered for this event."


class EventFull(Conflict):
    code = "event_full"
    default_detail = "The event is full. Ask to join the waiting list with waitlist: true."


class RegistrationClosed(DomainError):
    code = "registration_closed"
    default_detail = "Registration closed when the event started."


class InvalidCancelToken(DomainError):
    status_code = 404
    code = "not_found"
    default_detail = "No such attendee."


# --- Events -----------------------------------------------------------------------------------


def events_visible_to(user) -> QuerySet[Event]:
    """Events anyone may read."""
    return Event.objects.all()


def events_upcoming(events: QuerySet[Event], *, now: datetime | None = None) -> QuerySet[Event]:
    """The events of `events` that have not ended: to come or under way (what an events list shows by default)."""
    return events.filter(end_time__gte=now or timezone.now())


def events_organised_by(user) -> QuerySet[Event]:
    if not user.is_authenticated:
        return Event.objects.none()
    return Event.objects.filter(organiser=user)


def event_create(*, organiser, **fields) -> Event:
    reject_unknown_fields(fields, EVENT_FIELDS, "event_create")
    event = Event(organiser=organiser, **fields)
    event.full_clean(exclude=["organiser"])
    event.save()
    return event


@transaction.atomic
def event_update(*, event: Event, **changes) -> Event:
    """Change an event. Moving its times bumps the iCalendar SEQUENCE; more seats promote the waiting list."""
    reject_unknown_fields(changes, EVENT_FIELDS, "event_update")
    event = Event.objects.select_for_update().get(pk=event.pk)
    times_changed = any(
        name in changes and changes[name] != getattr(event, name) for name in ("start_time", "end_time")
    )
    for name, value in changes.items():
        setattr(event, name, value)
    if event.max_capacity is not None and event.max_capacity < event.seats_taken:
        raise ValidationError(
            {"max_capacity": [f"{event.seats_taken} people are registered; the capacity cannot be lower."]}
        )
    if times_changed:
        event.sequence += 1
    event.full_clean(exclude=["organiser"])
    event.save()
    _promote_waitlisted(event=event)
    return event


def event_delete(*, event: Event) -> None:
    event.delete()


# --- Attendees --------------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def attendee_register(
    *, event: Event, name: str, email: str, waitlist: bool = False, now: datetime | None = None
) -> tuple[Attendee, str]:
    """Register for an event, or join its waiting list when asked and full.

    Returns the attendee and its cancellation token (shown once; only its hash is stored).
    """
    now = now or timezone.now()
    event = Event.objects.select_for_update().get(pk=event.pk)  # serialises this event's seats
    if now >= event.start_time:
        raise RegistrationClosed()
    email = normalise_email(email)
    if Attendee.objects.filter(event=event, email=email).exclude(status=Attendee.Status.CANCELLED).exists():
        raise AlreadyRegistered()
    if event.seats_taken < event.max_capacity:
        status = Attendee.Status.REGISTERED
        event.seats_taken += 1
    elif waitlist:
        status = Attendee.Status.WAITLISTED
        event.waitlist_length += 1
    else:
        raise EventFull()
    token = secrets.token_urlsafe(24)
    attendee = Attendee(
        event=event, name=name.strip(), email=email, status=status, cancel_token_hash=_hash_token(token)
    )
    attendee.full_clean(exclude=["event"])
    try:
        with transaction.atomic():
            attendee.save()
    except IntegrityError:
        # The row lock makes this unreachable in practice; the constraint is the backstop.
        raise AlreadyRegistered() from None
    event.save(update_fields=["seats_taken", "waitlist_length", "updated_at"])
    return attendee, token


def attendee_by_cancel_token(*, event: Event, attendee_id: int, token: str) -> Attendee:
    """The attendee whose cancellation token this is (404 otherwise, compared in constant time)."""
    attendee = Attendee.objects.filter(event=event, pk=attendee_id).first()
    if attendee is None or not hmac.compare_digest(attendee.cancel_token_hash, _hash_token(token)):
        raise InvalidCancelToken()
    return attendee


@transaction.atomic
def attendee_cancel(*, attendee: Attendee, now: datetime | None = None) -> Attendee:
    """Cancel a registration or a waiting-list place; a freed seat goes to the first waitlisted person."""
    now = now or timezone.now()
    event = Event.objects.select_for_update().get(pk=attendee.event_id)
    attendee = Attendee.objects.get(pk=attendee.pk)
    if attendee.status == Attendee.Status.CANCELLED:
        return attendee
    if attendee.status == Attendee.Status.REGISTERED:
        event.seats_taken -= 1
    else:
        event.waitlist_length -= 1
    attendee.status = Attendee.Status.CANCELLED
    attendee.cancelled_at = now
    attendee.save(update_fields=["status", "cancelled_at"])
    event.save(update_fields=["seats_taken", "waitlist_length", "updated_at"])
    _promote_waitlisted(event=event, now=now)
    return attendee


def _promote_waitlisted(*, event: Event, now: datetime | None = None) -> list[Attendee]:
    """Fill free seats from the waiting list, first come first served. Call with the event locked."""
    free = event.max_capacity - event.seats_taken
    if free <= 0 or event.waitlist_length == 0:
        return []
    now = now or timezone.now()
    promoted = list(Attendee.objects.filter(event=event, status=Attendee.Status.WAITLISTED).order_by("id")[:free])
    for attendee in promoted:
        attendee.status = Attendee.Status.REGISTERED
        attendee.promoted_at = now
    Attendee.objects.bulk_update(promoted, ["status", "promoted_at"])
    event.seats_taken += len(promoted)
    event.waitlist_length -= len(promoted)
    event.save(update_fields=["seats_taken", "waitlist_length", "updated_at"])
    if promoted:
        from events.tasks import send_promotion_email

        ids = [attendee.pk for attendee in promoted]
        transaction.on_commit(lambda: [send_promotion_email.delay(pk) for pk in ids])
    return promoted


def attendee_promotion_email_send(*, attendee_id: int) -> bool:
    """E-mail a promoted attendee once (the sent stamp makes a retried task a no-op)."""
    attendee = Attendee.objects.select_related("event").get(pk=attendee_id)
    if attendee.promotion_emailed_at is not None or attendee.status != Attendee.Status.REGISTERED:
        return False
    event = attendee.event
    local_start = timezone.localtime(event.start_time, ZoneInfo(event.timezone))
    send_mail(
        subject=f"You have a seat at {event.name}",
        message=(
            f"Hello {attendee.name},\n\nA seat became free and it is yours: you are now registered for "
            f"{event.name} at {event.location}, starting {local_start:%A %d %B %Y %H:%M} ({event.timezone}).\n"
        ),
        from_email=None,
        recipient_list=[attendee.email],
    )
    Attendee.objects.filter(pk=attendee.pk, promotion_emailed_at__isnull=True).update(
        promotion_emailed_at=timezone.now()
    )
    return True


def attendees_of(*, event: Event) -> QuerySet[Attendee]:
    """The event's attendees with their waiting-list `position` (None unless waitlisted), in one query."""
    ahead = (
        Attendee.objects.filter(event=OuterRef("event"), status=Attendee.Status.WAITLISTED, id__lte=OuterRef("id"))
        .order_by()
        .values("event")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Attendee.objects.filter(event=event).annotate(waitlist_position=Coalesce(Subquery(ahead), 0)).order_by("id")


def attendee_waitlist_position(*, attendee: Attendee) -> int | None:
    if attendee.status != Attendee.Status.WAITLISTED:
        return None
    return Attendee.objects.filter(
        event_id=attendee.event_id, status=Attendee.Status.WAITLISTED, id__lte=attendee.pk
    ).count()


def attendee_counts(*, event: Event) -> dict[str, int]:
    return {
        "registered": event.seats_taken,
        "waitlisted": event.waitlist_length,
        "seats_left": event.seats_left,
    }


def attendee_search(queryset: QuerySet[Attendee], term: str) -> QuerySet[Attendee]:
    return queryset.filter(Q(name__icontains=term) | Q(email__icontains=term.strip().lower()))
