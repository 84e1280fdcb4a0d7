from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from alerts.filters import PriceAlertFilterSet, PriceTickFilterSet, TransactionAlertFilterSet, TransactionFilterSet
from alerts.models import AlertRule, PriceAlert, PriceTick, Transaction, TransactionAlert
from alerts.serializers import (
    AlertRuleBacktestInSerializer,
    AlertRuleBacktestSerializer,
    AlertRuleSerializer,
    PriceAlertSerializer,
    PriceBacktestInSerializer,
    PriceBacktestSerializer,
    PriceTickSerializer,
    TransactionAlertSerializer,
    TransactionAnswerSerializer,
    TransactionInSerializer,
    TransactionSerializer,
)
from alerts.services import backtest, price_alerts, price_backtest, transactions
from eventsys.api.dry_run import DRY_RUN_PARAMETER, answer, dry_run_requested, dry_run_variant
from eventsys.api.fields import StrictBooleanField
from eventsys.api.filters import ListFilterBackend, RejectUnknownQueryParams, StableOrderingFilter
from eventsys.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from eventsys.api.parsers import DecimalJSONParser
from eventsys.api.schema import error_response

_WOULD_FIRE_NOW = StrictBooleanField(
    read_only=True,
    allow_null=True,
    help_text="Whether the latest known price already crosses the target (null: no recent price is known).",
)


@extend_schema_view(partial_update=extend_schema(parameters=[DRY_RUN_PARAMETER]))
class PriceAlertViewSet(viewsets.ModelViewSet):
    """Your price alerts. DELETE marks an alert deleted: kept for history, never polled."""

    serializer_class = PriceAlertSerializer
    filter_backends = [RejectUnknownQueryParams, ListFilterBackend, StableOrderingFilter]
    filterset_class = PriceAlertFilterSet
    ordering_fields = ["created_at", "target_price", "coin", "triggered_at"]
    throttle_scope = None  # the backtest action has its own
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PriceAlert.objects.none()
        return price_alerts.price_alerts_visible_to(self.request.user)

    @extend_schema(
        parameters=[DRY_RUN_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            201: PriceAlertSerializer,
            200: dry_run_variant(PriceAlertSerializer, created=["id"], extra={"would_fire_now": _WOULD_FIRE_NOW}),
        },
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        def evaluate() -> Response:
            response = super(PriceAlertViewSet, self).create(request, *args, **kwargs)
            if dry_run_requested(request):
                response.data["would_fire_now"] = price_alerts.price_alert_would_fire(alert=self._created)
            return response

        return answer(request, evaluate, created=["id"])

    @extend_schema(parameters=[DRY_RUN_PARAMETER])
    def update(self, request, *args, **kwargs):
        return answer(request, lambda: super(PriceAlertViewSet, self).update(request, *args, **kwargs))

    def perform_create(self, serializer):
        serializer.instance = price_alerts.price_alert_create(owner=self.request.user, **serializer.validated_data)
        self._created = serializer.instance

    @extend_schema(
        request=PriceBacktestInSerializer,
        responses={
            200: PriceBacktestSerializer,
            503: error_response(
                "`price_history_unavailable`: CoinGecko cannot give the price history now (unreachable, failing, "
                "or asking us to slow down: Retry-After, when known)."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        filter_backends=[],
        parser_classes=[DecimalJSONParser],
        throttle_scope="price_backtest",  # a history not cached yet is a CoinGecko call
    )
    def backtest(self, request):
        """Backtest a price alert: when, over the last `days` days of CoinGecko's price history, it would
        have fired, and how often with its re-arm band. Nothing is stored."""
        serializer = PriceBacktestInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = price_backtest.price_backtest(**serializer.validated_data)
        return Response(PriceBacktestSerializer(result).data)

    def perform_update(self, serializer):
        serializer.instance = price_alerts.price_alert_update(alert=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        price_alerts.price_alert_delete(alert=instance)


class PriceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The latest known price of every coin polled (one row per coin and currency)."""

    serializer_class = PriceTickSerializer
    filterset_class = PriceTickFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PriceTick.objects.none()
        return price_alerts.latest_prices().order_by("coin", "currency", "id")


class IsStaffOrReadOnly(BasePermission):
    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class AlertRuleViewSet(viewsets.ModelViewSet):
    """Transaction-monitoring rules: everyone reads them; staff change them (effective at once)."""

    serializer_class = AlertRuleSerializer
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]
    queryset = AlertRule.objects.order_by("priority", "code")

    @extend_schema(request=AlertRuleBacktestInSerializer, responses={200: AlertRuleBacktestSerializer})
    @action(detail=True, methods=["post"], parser_classes=[DecimalJSONParser])
    def backtest(self, request, pk=None):
        """Backtest changed parameters (staff): replay the transactions stored in the last `days` days
        through the rule as it is and as changed, and answer what each would have fired. Nothing is stored."""
        rule = self.get_object()
        serializer = AlertRuleBacktestInSerializer(data=request.data, context={"rule": rule})
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        days = changes.pop("days")
        result = backtest.rule_backtest(rule=rule, changes=changes, days=days)
        return Response(AlertRuleBacktestSerializer(result).data)


class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """POST a customer's deposit or withdrawal: the rules answer in the same request."""

    serializer_class = TransactionSerializer
    parser_classes = [DecimalJSONParser]
    filterset_class = TransactionFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Transaction.objects.none()
        return transactions.transactions_visible_to(self.request.user).select_related("customer").order_by("-id")

    @extend_schema(
        request=TransactionInSerializer,
        parameters=[DRY_RUN_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={200: TransactionAnswerSerializer},
    )
    @idempotent
    def create(self, request):
        return answer(request, lambda: self._record(request))

    def _record(self, request) -> Response:
        serializer = TransactionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        recorded = transactions.transaction_record(owner=request.user, **serializer.validated_data)
        body = recorded.as_dict()
        if dry_run_requested(request) and recorded.transaction_id is not None:
            body["evidence"] = transactions.transaction_evidence(transaction_id=recorded.transaction_id)
            for evidence in body["evidence"].values():
                for tx in evidence:
                    if tx["id"] == recorded.transaction_id:
                        tx["id"] = None  # this one was never stored
        return Response(body)


class TransactionAlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The alerts your transactions fired, each with the transactions that made it fire."""

    serializer_class = TransactionAlertSerializer
    filterset_class = TransactionAlertFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TransactionAlert.objects.none()
        return (
            transactions.transaction_alerts_visible_to(self.request.user)
            .select_related("customer")
            .prefetch_related("evidence")
            .order_by("-id")
        )
