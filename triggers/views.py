from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from eventsys.api.dry_run import DRY_RUN_PARAMETER, answer, dry_run_variant
from eventsys.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from eventsys.api.schema import error_response
from triggers import services
from triggers.filters import ExecutionLogFilterSet, TriggerFilterSet, TriggerLogFilterSet
from triggers.models import ExecutionLog, Trigger
from triggers.serializers import (
    ExecutionLogDetailSerializer,
    ExecutionLogSerializer,
    RedeliveredSerializer,
    SigningSecretSerializer,
    TriggerCreatedSerializer,
    TriggerSerializer,
)

_COMPLETED = error_response("The trigger has completed: it can no longer be paused or resumed.")
_NOT_ACTIVE = error_response("`trigger_not_active`: the trigger is paused, disabled or completed; resume it first.")
_NOT_REDELIVERABLE = error_response(
    "`delivery_in_progress`: the delivery is still pending or running; `nothing_to_deliver`: the firing "
    "has no webhook delivery (a `scheduled` trigger, a skipped slot); `test_not_redeliverable`: a test run."
)


TRIGGER_CREATED_FIELDS = ["id", "signing_secret"]


@extend_schema_view(partial_update=extend_schema(parameters=[DRY_RUN_PARAMETER]))
class TriggerViewSet(viewsets.ModelViewSet):
    """Your triggers. Times without an offset are read in the trigger's `timezone`."""

    serializer_class = TriggerSerializer
    filterset_class = TriggerFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Trigger.objects.none()
        return services.triggers_visible_to(self.request.user).order_by("-created_at", "-id")

    @extend_schema(
        parameters=[DRY_RUN_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            201: TriggerCreatedSerializer,
            200: dry_run_variant(TriggerCreatedSerializer, created=TRIGGER_CREATED_FIELDS),
        },
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        return answer(request, lambda: self._create(request), created=TRIGGER_CREATED_FIELDS)

    def _create(self, request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        trigger = services.trigger_create(owner=request.user, **serializer.validated_data)
        return Response(TriggerCreatedSerializer(trigger).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[DRY_RUN_PARAMETER])
    def update(self, request, *args, **kwargs):
        return answer(request, lambda: super(TriggerViewSet, self).update(request, *args, **kwargs))

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
        summary="Re-deliver this trigger's failed deliveries",
        request=None,
        responses={202: RedeliveredSerializer, 409: _NOT_ACTIVE},
    )
    @action(detail=True, methods=["post"], url_path="redeliver-failed")
    def redeliver_failed(self, request, pk=None):
        """Send every failed delivery of this trigger once more (oldest first, at most 1000 per call:
        call again for the rest), each as a new attempt under its own delivery id. The trigger must be
        active."""
        count = services.trigger_redeliver_failed(trigger=self.get_object())
        return Response({"redelivered": count}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=ExecutionLogSerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=ExecutionLogSerializer, filterset_class=TriggerLogFilterSet)
    def logs(self, request, pk=None):
        """This trigger's execution logs, newest first."""
        trigger = self.get_object()
        page = self.paginate_queryset(self.filter_queryset(trigger.logs.order_by("-created_at", "-id")))
        return self.get_paginated_response(ExecutionLogSerializer(page, many=True).data)


class ExecutionLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Execution logs of all your triggers: active for TRIGGER_LOG_ARCHIVE_AFTER, then archived."""

    serializer_class = ExecutionLogSerializer
    filterset_class = ExecutionLogFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ExecutionLog.objects.none()
        logs = services.execution_logs_visible_to(self.request.user).order_by("-created_at", "-id")
        return logs.prefetch_related("delivery_attempts") if self.action == "retrieve" else logs

    def get_serializer_class(self):
        # One log shows every attempt of its delivery; a list shows the outcome only.
        return ExecutionLogDetailSerializer if self.action == "retrieve" else ExecutionLogSerializer

    @extend_schema(
        summary="Re-deliver this firing's webhook",
        request=None,
        responses={202: ExecutionLogSerializer, 409: _NOT_REDELIVERABLE},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        """Send a delivered or failed webhook delivery once more: one new attempt (attempt numbers
        continue) under the same delivery id, so receivers still drop duplicates; enqueued at once."""
        log = services.execution_log_redeliver(log=self.get_object())
        return Response(ExecutionLogSerializer(log).data, status=status.HTTP_202_ACCEPTED)
