from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from events import services
from events.calendar import event_ics
from events.filters import AttendeeFilterSet, EventFilterSet
from events.models import Attendee, Event
from events.serializers import AttendeeRegisteredSerializer, AttendeeSerializer, EventSerializer
from eventsys.api.dry_run import DRY_RUN_PARAMETER, answer, dry_run_variant
from eventsys.api.fields import zone_or_none
from eventsys.api.filters import ListFilterBackend, RejectUnknownQueryParams, StableOrderingFilter
from eventsys.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from eventsys.api.schema import error_response

TZ_PARAMETER = OpenApiParameter("tz", str, description="Render times in this IANA zone (default: the event's zone)")


class ZoneFromQueryMixin:
    """`?tz=Area/City` chooses the zone responses render times in; an unknown zone is a 400."""

    def requested_zone(self):
        name = self.request.query_params.get("tz")
        if name is None:
            return None
        zone = zone_or_none(name)
        if zone is None:
            raise exceptions.ValidationError({"tz": [f"Unknown time zone: {name}."]})
        return zone

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tz": self.requested_zone()}


@extend_schema_view(list=extend_schema(parameters=[TZ_PARAMETER]), retrieve=extend_schema(parameters=[TZ_PARAMETER]))
class EventViewSet(ZoneFromQueryMixin, viewsets.ModelViewSet):
    """Events: anyone reads (upcoming by default); the organiser writes."""

    serializer_class = EventSerializer
    permission_classes = [IsAuthenticatedOrReadOnly]
    filter_backends = [RejectUnknownQueryParams, ListFilterBackend, SearchFilter, StableOrderingFilter]
    filterset_class = EventFilterSet
    search_fields = ["name", "location"]
    ordering_fields = ["start_time", "end_time", "name", "max_capacity"]
    ordering = ["start_time"]
    query_params_allowed = {"tz"}

    def get_queryset(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return services.events_visible_to(self.request.user)
        return services.events_organised_by(self.request.user)

    @extend_schema(parameters=[IDEMPOTENCY_PARAMETER])
    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.event_create(organiser=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.event_update(event=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.event_delete(event=instance)


class EventCalendarView(APIView):
    """The event as an iCalendar file (stable UID; SEQUENCE grows when the organiser changes its times)."""

    permission_classes = [AllowAny]

    @extend_schema(responses={(200, "text/calendar"): OpenApiResponse(OpenApiTypes.STR, description="iCalendar")})
    def get(self, request, pk: int):
        event = get_object_or_404(services.events_visible_to(request.user), pk=pk)
        response = HttpResponse(event_ics(event), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="event-{event.pk}.ics"'
        return response


REGISTRATION_CREATED_FIELDS = ["id", "cancel_token"]


@extend_schema(parameters=[TZ_PARAMETER])
class AttendeeViewSet(ZoneFromQueryMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Registration is open to anyone; the list (it holds e-mail addresses) is the organiser's.

    DELETE cancels: by the organiser, or by the attendee with the `cancel_token` from registration
    (`?cancel_token=` or an `X-Cancel-Token` header). A freed seat goes to the first waitlisted person.
    """

    serializer_class = AttendeeSerializer
    filter_backends = [RejectUnknownQueryParams, ListFilterBackend, SearchFilter]
    filterset_class = AttendeeFilterSet
    search_fields = ["name", "email"]
    query_params_allowed = {"tz", "cancel_token"}

    def get_permissions(self):
        if self.action in ("create", "destroy"):
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self):
        if self.action == "create":
            self.throttle_scope = "registration"
        return super().get_throttles()

    def _event(self, *, organiser_only: bool) -> Event:
        events = services.events_organised_by(self.request.user) if organiser_only else Event.objects.all()
        return get_object_or_404(events, pk=self.kwargs["event_pk"])

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if context["tz"] is None and getattr(self, "_current_event", None) is not None:
            context["tz"] = zone_or_none(self._current_event.timezone)
        return context

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Attendee.objects.none()
        self._current_event = self._event(organiser_only=True)
        return services.attendees_of(event=self._current_event)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        response.data["counts"] = services.attendee_counts(event=self._current_event)
        return response

    @extend_schema(
        request=AttendeeSerializer,
        parameters=[DRY_RUN_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            201: AttendeeRegisteredSerializer,
            200: dry_run_variant(AttendeeRegisteredSerializer, created=REGISTRATION_CREATED_FIELDS),
            409: error_response("Already registered, or the event is full (and no waitlist was asked for)."),
        },
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        return answer(request, lambda: self._register(request), created=REGISTRATION_CREATED_FIELDS)

    def _register(self, request) -> Response:
        event = self._event(organiser_only=False)
        self._current_event = event
        serializer = AttendeeSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        attendee, token = services.attendee_register(event=event, **serializer.validated_data)
        attendee.cancel_token = token
        attendee.waitlist_position = services.attendee_waitlist_position(attendee=attendee)
        data = AttendeeRegisteredSerializer(attendee, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("cancel_token", str, description="The token returned at registration")],
        responses={204: None},
    )
    def destroy(self, request, *args, **kwargs):
        event = self._event(organiser_only=False)
        attendee_id = self.kwargs["pk"]
        token = request.query_params.get("cancel_token") or request.headers.get("X-Cancel-Token")
        if request.user.is_authenticated and event.organiser_id == request.user.pk:
            attendee = get_object_or_404(Attendee, event=event, pk=attendee_id)
        elif token:
            attendee = services.attendee_by_cancel_token(event=event, attendee_id=attendee_id, token=token)
        else:
            raise exceptions.NotFound()
        services.attendee_cancel(attendee=attendee)
        return Response(status=status.HTTP_204_NO_CONTENT)
