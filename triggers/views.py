from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from eventsys.api.filters import QUERY_ID_SCHEMA, filter_time_range, query_id
from eventsys.api.schema import error_response
from triggers import services
from triggers.models import ExecutionLog, Trigger
from triggers.serializers import (
    ExecutionLogSerializer,
    SigningSecretSerializer,
    TriggerCreatedSerializer,
    TriggerSerializer,
)

_LOG_FILTERS = {
    "trigger": "trigger_id",
    "state": "state",
    "source": "source",
    "status": "status",
}
_LOG_CHOICES = {
    "state": ExecutionLog.State.values,
    "source": ExecutionLog.Source.values,
    "status": ExecutionLog.DeliveryStatus.values,
}


def filter_logs(queryset, params):
    """Filters shared by /event-logs/ and /triggers/{id}/logs/; a bad value is a 400 naming it."""
    errors = {}
    for param, field in _LOG_FILTERS.items():
        value = params.get(param)
        if value is None:
            continue
        if param in _LOG_CHOICES and value not in _LOG_CHOICES[param]:
            errors[param] = [f"Must be one of {', '.join(_LOG_CHOICES[param])}."]
        elif param == "trigger" and query_id(value) is None:
            errors[param] = ["Must be a trigger id."]
        else:
            queryset = queryset.filter(**{field: value})
    queryset = filter_time_range(queryset, params, field="created_at", errors=errors)
    if errors:
        raise exceptions.ValidationError(errors)
    return queryset


_COMPLETED = error_response("The trigger has completed: it can no longer be paused or resumed.")
_LOG_PARAMETERS = [
    OpenApiParameter("trigger", QUERY_ID_SCHEMA),
    OpenApiParameter("state", str, enum=ExecutionLog.State.values),
    OpenApiParameter("source", str, enum=ExecutionLog.Source.values),
    OpenApiParameter("status", str, enum=ExecutionLog.DeliveryStatus.values),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="created at or after"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="created before"),
]


class TriggerViewSet(viewsets.ModelViewSet):
    """Your triggers. Times without an offset are read in the trigger's `timezone`."""

    serializer_class = TriggerSerializer
    query_params_allowed = {"status", "trigger_type"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Trigger.objects.none()
        queryset = services.triggers_visible_to(self.request.user).order_by("-created_at", "-id")
        if self.action == "list":
            for param, field, choices in (
                ("status", "status", Trigger.Status.values),
                ("trigger_type", "kind", Trigger.Kind.values),
            ):
                value = self.request.query_params.get(param)
                if value is not None:
                    if value not in choices:
                        raise exceptions.ValidationError({param: [f"Must be one of {', '.join(choices)}."]})
                    queryset = queryset.filter(**{field: value})
        return queryset

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Trigger.Status.values),
            OpenApiParameter("trigger_type", str, enum=Trigger.Kind.values),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={201: TriggerCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trigger = services.trigger_create(owner=request.user, **serializer.validated_data)
        return Response(TriggerCreatedSerializer(trigger).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.trigger_update(trigger=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.trigger_delete(trigger=instance)

    @extend_schema(request=None, responses={202: ExecutionLogSerializer})
    @action(detail=True, methods=["post"])
    def fire(self, request, pk=None):
        """Fire now, outside the schedule (logged as manual; the schedule is unchanged)."""
        log = services.trigger_fire(trigger=self.get_object())
        return Response(ExecutionLogSerializer(log).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ExecutionLogSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Run once now, synchronously: for api triggers the real signed request; not counted as a run."""
        log = services.trigger_test(trigger=self.get_object())
        return Response(ExecutionLogSerializer(log).data)

    @extend_schema(request=None, responses={200: TriggerSerializer, 409: _COMPLETED})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop firing until resumed; nothing due while paused is fired later."""
        return Response(TriggerSerializer(services.trigger_pause(trigger=self.get_object())).data)

    @extend_schema(request=None, responses={200: TriggerSerializer, 409: _COMPLETED})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Fire again from the next slot (a trigger disabled by failing deliveries too)."""
        return Response(TriggerSerializer(services.trigger_resume(trigger=self.get_object())).data)

    @extend_schema(request=None, responses={200: SigningSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Replace the signing secret; the new one is in this response only."""
        return Response({"signing_secret": services.trigger_rotate_secret(trigger=self.get_object())})

    @extend_schema(
        parameters=[p for p in _LOG_PARAMETERS if p.name != "trigger"], responses=ExecutionLogSerializer(many=True)
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=ExecutionLogSerializer,
        query_params_allowed={"state", "source", "status", "since", "until"},
    )
    def logs(self, request, pk=None):
        """This trigger's execution logs, newest first."""
        trigger = self.get_object()
        queryset = filter_logs(trigger.logs.order_by("-created_at", "-id"), request.query_params)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ExecutionLogSerializer(page, many=True).data)


@extend_schema(parameters=_LOG_PARAMETERS)
class ExecutionLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Execution logs of all your triggers: active for TRIGGER_LOG_ARCHIVE_AFTER, then archived."""

    serializer_class = ExecutionLogSerializer
    query_params_allowed = {"trigger", "state", "source", "status", "since", "until"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExecutionLog.objects.none()
        queryset = services.execution_logs_visible_to(self.request.user).order_by("-created_at", "-id")
        if self.action == "list":
            queryset = filter_logs(queryset, self.request.query_params)
        return queryset
