"""The event-trigger service's documented endpoints (`/trigger/…`), over triggers.services.

The original (Flask) read `interval` in minutes and stored `schedule_time` as the naive text it was
sent; here a time without an offset is read in the trigger's zone (UTC unless the body names a
`timezone`) and rendered back the same way. The original never scheduled a trigger (it looked its
column names up among a row's values), so none ever fired; these are ordinary triggers, fired by the
dispatcher like any other. Errors answer `{"error": "…"}` (field errors under `errors`), except a
401, which answers `{"message": "…"}` as the original's token check did.
"""

import json
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from eventsys.api.fields import (
    StorableJSONField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    StrictURLField,
)
from eventsys.api.filters import QUERY_ID_SCHEMA, query_id
from eventsys.api.legacy import LegacyView
from triggers import services
from triggers.models import Trigger
from triggers.serializers import TriggerSerializer

NOT_FOUND = "Trigger not found!"
_MINUTE = timedelta(minutes=1)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


@extend_schema_field(OpenApiTypes.ANY)
class JSONValueOrTextField(StorableJSONField):
    """Any JSON value, or a string holding JSON text (what the original's clients sent: it stored text)."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                raise serializers.ValidationError("Must be JSON: a value, or a string holding JSON text.") from None
        return super().to_internal_value(data)


@extend_schema_field({"oneOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]})
class OneOrZeroFlagField(StrictBooleanField):
    """true or false, or 1 or 0: the original's list shows the flag as 1 or 0, so a client may send it back so."""

    json_types = (bool, int)


class LegacyTriggerWriteSerializer(TriggerSerializer):
    """The original's body. `interval` is in minutes; `name` and `timezone` are optional additions."""

    name = StrictCharField(required=False, max_length=200, help_text="Defaults to 'Untitled trigger'.")
    is_recurring = OneOrZeroFlagField(required=False, default=False)
    api_payload = JSONValueOrTextField(required=False, allow_null=True)

    class Meta(TriggerSerializer.Meta):
        fields = [
            "trigger_type",
            "schedule_time",
            "interval",
            "is_recurring",
            "api_endpoint",
            "api_payload",
            "name",
            "timezone",
        ]

    def validate(self, attrs):
        if attrs.get("interval") is not None:
            attrs["interval_unit"] = Trigger.IntervalUnit.MINUTES
        return super().validate(attrs)


class LegacyTriggerSerializer(serializers.Serializer):
    """One trigger as the original listed it (its keys, in its order)."""

    api_endpoint = serializers.SerializerMethodField()
    api_payload = serializers.JSONField(read_only=True)
    created_at = serializers.SerializerMethodField(help_text="UTC, YYYY-MM-DD HH:MM:SS")
    interval = serializers.SerializerMethodField(help_text="Minutes")
    is_recurring = serializers.SerializerMethodField(help_text="1 or 0")
    schedule_time = serializers.SerializerMethodField(help_text="Without an offset, in the trigger's time zone")
    status = serializers.ChoiceField(choices=Trigger.Status.choices, read_only=True)
    trigger_id = StrictIntegerField(source="pk", read_only=True)
    trigger_type = serializers.ChoiceField(source="kind", choices=Trigger.Kind.choices, read_only=True)
    user_id = StrictIntegerField(source="owner_id", read_only=True)

    @extend_schema_field(StrictURLField(allow_null=True))
    def get_api_endpoint(self, trigger: Trigger) -> str | None:
        return trigger.api_endpoint or None

    @extend_schema_field(StrictCharField())
    def get_created_at(self, trigger: Trigger) -> str:
        return f"{trigger.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_interval(self, trigger: Trigger) -> int | float | None:
        if trigger.interval_delta is None:
            return None
        minutes = trigger.interval_delta / _MINUTE
        return int(minutes) if minutes.is_integer() else minutes

    @extend_schema_field(StrictIntegerField(min_value=0, max_value=1))
    def get_is_recurring(self, trigger: Trigger) -> int:
        return int(trigger.schedule_type != Trigger.ScheduleType.ONE_OFF)

    @extend_schema_field(StrictCharField(allow_null=True))
    def get_schedule_time(self, trigger: Trigger) -> str | None:
        if trigger.schedule_time is None:
            return None
        return trigger.schedule_time.astimezone(ZoneInfo(trigger.timezone)).replace(tzinfo=None).isoformat()


MESSAGE = inline_serializer("LegacyTriggerMessage", {"message": StrictCharField()})
ERROR = inline_serializer(
    "LegacyTriggerError",
    {
        "error": StrictCharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=StrictCharField()), required=False, help_text="Per field"
        ),
    },
)
UNAUTHORIZED = OpenApiResponse(MESSAGE, description="No token ('Token is missing') or an invalid one.")
# Any other path segment names no trigger: a 404 in the original's shape.
TRIGGER_ID = OpenApiParameter("trigger_id", QUERY_ID_SCHEMA, OpenApiParameter.PATH)


class LegacyTriggerView(LegacyView):
    """Base of the /trigger/ adapters: the caller's triggers only, errors in the original's style."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated):
            exc = exceptions.NotAuthenticated("Token is missing")
        elif isinstance(exc, Trigger.DoesNotExist):  # deleted by a concurrent request
            exc = exceptions.NotFound(NOT_FOUND)
        return super().handle_exception(exc)

    def legacy_error(self, *, status: int, message: str, fields: dict[str, list[str]] | None) -> dict:
        if status == 401:
            return {"message": message}
        body = {"error": message}
        if fields:
            body["errors"] = fields
        return body

    def get_trigger(self, trigger_id: str) -> Trigger:
        """The caller's trigger; anyone else's, and an id that is no id, are as unknown as a missing one."""
        pk = query_id(trigger_id)
        trigger = None if pk is None else services.triggers_visible_to(self.request.user).filter(pk=pk).first()
        if trigger is None:
            raise exceptions.NotFound(NOT_FOUND)
        return trigger


class LegacyTriggerCreateView(LegacyTriggerView):
    """Create a trigger, as POST /api/v1/triggers/; a recurring one fires every `interval` minutes from its start."""

    @extend_schema(
        operation_id="legacy_trigger_create",
        request=LegacyTriggerWriteSerializer,
        responses={201: MESSAGE, 400: ERROR, 401: UNAUTHORIZED},
    )
    def post(self, request):
        serializer = LegacyTriggerWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.trigger_create(owner=request.user, **serializer.validated_data)
        return Response({"message": "Trigger created successfully"}, status=status.HTTP_201_CREATED)


class LegacyTriggerListView(LegacyTriggerView):
    """All the caller's triggers, oldest first, unpaginated as in the original (/api/v1/triggers/ pages)."""

    @extend_schema(
        operation_id="legacy_trigger_list",
        responses={200: LegacyTriggerSerializer(many=True), 401: UNAUTHORIZED},
    )
    def get(self, request):
        triggers = services.triggers_visible_to(request.user).order_by("created_at", "id")
        return Response(LegacyTriggerSerializer(triggers, many=True).data)


class LegacyTriggerFireView(LegacyTriggerView):
    """Fire now, outside the schedule, as /api/v1/triggers/{id}/fire/ (the original needed no token)."""

    acts_as_default_owner = True

    @extend_schema(
        operation_id="legacy_trigger_fire",
        parameters=[TRIGGER_ID],
        request=None,
        responses={200: MESSAGE, 401: UNAUTHORIZED, 404: ERROR},
    )
    def post(self, request, trigger_id: str):
        services.trigger_fire(trigger=self.get_trigger(trigger_id))
        return Response({"message": "Event triggered successfully!"})


class LegacyTriggerTestView(LegacyTriggerView):
    """Run once as a test, as /api/v1/triggers/{id}/test/ (the original needed no token); its log has the outcome."""

    acts_as_default_owner = True

    @extend_schema(
        operation_id="legacy_trigger_test",
        parameters=[TRIGGER_ID],
        request=None,
        responses={200: MESSAGE, 401: UNAUTHORIZED, 404: ERROR},
    )
    def post(self, request, trigger_id: str):
        services.trigger_test(trigger=self.get_trigger(trigger_id))
        return Response({"message": "Test event triggered successfully!"})


class LegacyTriggerUpdateView(LegacyTriggerView):
    """Change the fields sent; the others keep their values (the original's PUT was partial)."""

    @extend_schema(
        operation_id="legacy_trigger_update",
        parameters=[TRIGGER_ID],
        request=LegacyTriggerWriteSerializer(partial=True),
        responses={200: MESSAGE, 400: ERROR, 401: UNAUTHORIZED, 404: ERROR},
    )
    def put(self, request, trigger_id: str):
        trigger = self.get_trigger(trigger_id)
        serializer = LegacyTriggerWriteSerializer(trigger, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.trigger_update(trigger=trigger, **serializer.validated_data)
        return Response({"message": "Trigger updated successfully!"})


class LegacyTriggerDeleteView(LegacyTriggerView):
    """Delete a trigger and its execution logs, as DELETE /api/v1/triggers/{id}/."""

    @extend_schema(
        operation_id="legacy_trigger_delete",
        parameters=[TRIGGER_ID],
        responses={200: MESSAGE, 401: UNAUTHORIZED, 404: ERROR},
    )
    def delete(self, request, trigger_id: str):
        services.trigger_delete(trigger=self.get_trigger(trigger_id))
        return Response({"message": "Trigger deleted successfully!"})


def alias(view: type[LegacyTriggerView], method: str, operation_id: str) -> type[LegacyTriggerView]:
    """`view` served under a second path, with an operation id of its own (ids are unique in the schema)."""
    subclass = type(f"{view.__name__}Alias", (view,), {"__doc__": view.__doc__})
    return extend_schema_view(**{method: extend_schema(operation_id=operation_id)})(subclass)


urlpatterns = [
    path("trigger/create-trigger", LegacyTriggerCreateView.as_view(), name="legacy-trigger-create"),
    # The documentation's spelling, and the original's route.
    path("trigger/list-tiggers", LegacyTriggerListView.as_view(), name="legacy-trigger-list"),
    path(
        "trigger/list-triggers",
        alias(LegacyTriggerListView, "get", "legacy_trigger_list_alias").as_view(),
        name="legacy-trigger-list-alias",
    ),
    path("trigger/trigger_event/<str:trigger_id>", LegacyTriggerFireView.as_view(), name="legacy-trigger-fire"),
    path("trigger/test_trigger/<str:trigger_id>", LegacyTriggerTestView.as_view(), name="legacy-trigger-test"),
    path("trigger/update-trigger/<str:trigger_id>", LegacyTriggerUpdateView.as_view(), name="legacy-trigger-update"),
    path(
        "trigger/update_trigger/<str:trigger_id>",
        alias(LegacyTriggerUpdateView, "put", "legacy_trigger_update_alias").as_view(),
        name="legacy-trigger-update-alias",
    ),
    path("trigger/delete-trigger/<str:trigger_id>", LegacyTriggerDeleteView.as_view(), name="legacy-trigger-delete"),
    path(
        "trigger/delete_trigger/<str:trigger_id>",
        alias(LegacyTriggerDeleteView, "delete", "legacy_trigger_delete_alias").as_view(),
        name="legacy-trigger-delete-alias",
    ),
]
