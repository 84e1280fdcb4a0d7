"""`/events/…` of the original event-management service (a Flask app), over events.services.

Every body is wrapped in `{"payload": {…}}`. Times travel as "YYYY-MM-DD HH:MM" wall-clock times,
read in Asia/Kolkata (the original's only zone) unless the payload names a `timezone`, and are
rendered back in the event's own zone. Ids are ours (integers), sent as strings as the original's
were. Errors are `{"message": …, "status": "error"}`, with field errors under `errors`.

Access follows /api/v1/: the events list and registration are open to anyone; creating an event
and listing its attendees need a token (or LEGACY_DEFAULT_OWNER), and the list is the organiser's.
"""

from zoneinfo import ZoneInfo

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.response import Response

from events import services
from events.models import Attendee, Event
from events.serializers import AttendeeSerializer, EventSerializer
from eventsys.api.fields import (
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    TimeZoneField,
    WallClockDateTimeField,
)
from eventsys.api.filters import query_id
from eventsys.api.legacy import LegacyView, legacy_page

WALL_CLOCK = "%Y-%m-%d %H:%M"
DEFAULT_ZONE = "Asia/Kolkata"
ATTENDEES_PER_PAGE = 10  # the original's default `limit`


# --- Wire shapes ------------------------------------------------------------------------------


class LegacyEventPayloadSerializer(EventSerializer):
    """The original's event fields, validated by /api/v1/'s rules (end after start, capacity ≥ 1, a real zone)."""

    start_time = WallClockDateTimeField(input_formats=[WALL_CLOCK], help_text="YYYY-MM-DD HH:MM in `timezone`")
    end_time = WallClockDateTimeField(input_formats=[WALL_CLOCK], help_text="YYYY-MM-DD HH:MM in `timezone`")
    timezone = TimeZoneField(required=False, default=DEFAULT_ZONE, help_text="IANA zone; default Asia/Kolkata")

    class Meta(EventSerializer.Meta):
        fields = ["name", "location", "start_time", "end_time", "timezone", "max_capacity"]


class LegacyEventCreateSerializer(serializers.Serializer):
    payload = LegacyEventPayloadSerializer()


class LegacyEventAttendeePayloadSerializer(AttendeeSerializer):
    class Meta(AttendeeSerializer.Meta):
        fields = ["name", "email"]


class LegacyEventRegisterSerializer(serializers.Serializer):
    payload = LegacyEventAttendeePayloadSerializer()


class LegacyEventSectionSerializer(serializers.Serializer):
    id = StrictCharField()
    name = StrictCharField()
    location = StrictCharField()
    start_time = StrictCharField(help_text="YYYY-MM-DD HH:MM in the event's zone")
    end_time = StrictCharField(help_text="YYYY-MM-DD HH:MM in the event's zone")
    max_capacity = StrictIntegerField()

    def to_representation(self, instance):
        data = super().to_representation(instance)
        zone = ZoneInfo(instance.timezone)
        for name in ("start_time", "end_time"):
            data[name] = timezone.localtime(getattr(instance, name), zone).strftime(WALL_CLOCK)
        return data


class LegacyEventAttendeeSectionSerializer(serializers.Serializer):
    id = StrictCharField()
    name = StrictCharField()
    email = StrictEmailField()
    event_id = StrictCharField()


ERROR = inline_serializer(
    "LegacyEventError",
    {
        "message": StrictCharField(),
        "status": StrictCharField(default="error"),
        "errors": serializers.DictField(
            child=serializers.ListField(child=StrictCharField()), required=False, help_text="Invalid input only"
        ),
    },
)
STATUS = inline_serializer("LegacyEventStatus", {"message": StrictCharField(), "status": StrictCharField()})
EVENT_ID_PARAMETER = OpenApiParameter("event_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Our event id")
PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="From 1 (default 1)"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Rows a page (capped at API_MAX_PAGE_SIZE)"),
]


# --- Views ------------------------------------------------------------------------------------


class LegacyEventsBaseView(LegacyView):
    def legacy_error(self, *, status, message, fields):
        body = {"message": message, "status": "error"}
        if fields:
            body["errors"] = fields
        return body


def _event_or_404(events, event_id: str) -> Event:
    # Our ids are integers; an id of the original's (`19f51d4`) names no event here.
    pk = query_id(event_id)
    event = None if pk is None else events.filter(pk=pk).first()
    if event is None:
        raise exceptions.NotFound("Event not found")
    return event


class LegacyEventsView(LegacyEventsBaseView):
    """GET: the upcoming events (public); POST: create one."""

    acts_as_default_owner = {"POST"}  # the original needed no token to create an event; the list is public

    def get_permissions(self):
        if self.request.method in SAFE_METHODS:
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(
        operation_id="legacy_events_list",
        description="Upcoming (not yet ended) events, anyone's, as /api/v1/events/ lists them; no token needed.",
        parameters=PAGE_PARAMETERS,
        responses={
            200: inline_serializer(
                "LegacyEventList",
                {"message": StrictCharField(), "sections": LegacyEventSectionSerializer(many=True)},
            ),
            400: ERROR,
            401: ERROR,
        },
    )
    def get(self, request):
        window = legacy_page(request.query_params)
        events = services.events_upcoming(services.events_visible_to(request.user)).order_by("start_time", "id")
        sections = LegacyEventSectionSerializer(events[window], many=True).data
        return Response({"message": "Events :", "sections": sections})

    @extend_schema(
        operation_id="legacy_events_create",
        description="Create an event organised by the caller (a token, or LEGACY_DEFAULT_OWNER).",
        request=LegacyEventCreateSerializer,
        responses={
            201: inline_serializer("LegacyEventCreated", {"message": StrictCharField(), "event": StrictCharField()}),
            400: ERROR,
            401: ERROR,
        },
    )
    def post(self, request):
        serializer = LegacyEventCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        event = services.event_create(organiser=request.user, **serializer.validated_data["payload"])
        return Response({"message": "Event Created", "event": str(event.pk)}, status=status.HTTP_201_CREATED)


class LegacyEventRegisterView(LegacyEventsBaseView):
    """Register for an event: open to anyone, as /api/v1/events/{id}/attendees/ (and throttled the same)."""

    permission_classes = [AllowAny]
    throttle_scope = "registration"

    @extend_schema(
        operation_id="legacy_events_register",
        parameters=[EVENT_ID_PARAMETER],
        request=LegacyEventRegisterSerializer,
        responses={201: STATUS, 400: ERROR, 401: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
    )
    def post(self, request, event_id: str):
        event = _event_or_404(services.events_visible_to(request.user), event_id)
        serializer = LegacyEventRegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.attendee_register(event=event, **serializer.validated_data["payload"])
        except services.AlreadyRegistered:
            return self._refused("only 1 registration per user")
        except services.EventFull:
            return self._refused("Seats full! Come again for next show")
        return Response({"message": "Insert Successful...", "status": "success"}, status=status.HTTP_201_CREATED)

    def _refused(self, message: str) -> Response:
        return Response({"message": message, "status": "error"}, status=status.HTTP_409_CONFLICT)


class LegacyEventAttendeesView(LegacyEventsBaseView):
    """The registered attendees of one of the caller's events (their e-mail addresses are the organiser's only)."""

    acts_as_default_owner = True  # the original needed no token

    @extend_schema(
        operation_id="legacy_events_attendees",
        parameters=[EVENT_ID_PARAMETER, *PAGE_PARAMETERS],
        responses={
            200: inline_serializer(
                "LegacyEventAttendeeList",
                {"message": StrictCharField(), "sections": LegacyEventAttendeeSectionSerializer(many=True)},
            ),
            400: ERROR,
            401: ERROR,
            404: ERROR,
        },
    )
    def get(self, request, event_id: str):
        event = _event_or_404(services.events_organised_by(request.user), event_id)
        window = legacy_page(request.query_params, default_limit=ATTENDEES_PER_PAGE)
        attendees = services.attendees_of(event=event).filter(status=Attendee.Status.REGISTERED)
        sections = LegacyEventAttendeeSectionSerializer(attendees[window], many=True).data
        return Response({"message": "Attendees :", "sections": sections})


urlpatterns = [
    path("events/", LegacyEventsView.as_view(), name="legacy-events"),
    path("events/<str:event_id>/register", LegacyEventRegisterView.as_view(), name="legacy-event-register"),
    path("events/<str:event_id>/attendee", LegacyEventAttendeesView.as_view(), name="legacy-event-attendees"),
]
