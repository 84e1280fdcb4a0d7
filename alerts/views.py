from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from alerts.models import AlertRule, PriceAlert, PriceTick, Transaction, TransactionAlert, TransactionType
from alerts.serializers import (
    AlertRuleSerializer,
    PriceAlertSerializer,
    PriceTickSerializer,
    TransactionAlertSerializer,
    TransactionAnswerSerializer,
    TransactionInSerializer,
    TransactionSerializer,
)
from alerts.services import price_alerts, transactions
from eventsys.api.filters import (
    QUERY_ID_SCHEMA,
    RejectUnknownQueryParams,
    StableOrderingFilter,
    filter_time_range,
    query_id,
)
from eventsys.api.parsers import DecimalJSONParser


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=PriceAlert.Status.values, description="case-insensitive"),
            OpenApiParameter("coin", str),
        ]
    )
)
class PriceAlertViewSet(viewsets.ModelViewSet):
    """Your price alerts. DELETE marks an alert deleted: kept for history, never polled."""

    serializer_class = PriceAlertSerializer
    filter_backends = [RejectUnknownQueryParams, StableOrderingFilter]
    ordering_fields = ["created_at", "target_price", "coin", "triggered_at"]
    ordering = ["-created_at"]
    query_params_allowed = {"status", "coin"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PriceAlert.objects.none()
        queryset = price_alerts.price_alerts_visible_to(self.request.user)
        if self.action == "list":
            status = self.request.query_params.get("status")
            if status is not None:
                # The original service's fetch_all/<FILTER> used TRIGGERED, CREATED, DELETED.
                if status.lower() not in PriceAlert.Status.values:
                    raise exceptions.ValidationError(
                        {"status": [f"Must be one of {', '.join(PriceAlert.Status.values)}."]}
                    )
                queryset = queryset.filter(status=status.lower())
            if "coin" in self.request.query_params:
                queryset = queryset.filter(coin=self.request.query_params["coin"].strip().lower())
        return queryset

    def perform_create(self, serializer):
        serializer.instance = price_alerts.price_alert_create(owner=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = price_alerts.price_alert_update(alert=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        price_alerts.price_alert_delete(alert=instance)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("coin", str)]))
class PriceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The latest known price of every coin polled (one row per coin and currency)."""

    serializer_class = PriceTickSerializer
    query_params_allowed = {"coin"}

    def get_queryset(self):
        queryset = price_alerts.latest_prices().order_by("coin", "currency", "id")
        if "coin" in self.request.query_params:
            queryset = queryset.filter(coin=self.request.query_params["coin"].strip().lower())
        return queryset if not getattr(self, "swagger_fake_view", False) else PriceTick.objects.none()


class IsStaffOrReadOnly(BasePermission):
    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class AlertRuleViewSet(viewsets.ModelViewSet):
    """Transaction-monitoring rules: everyone reads them; staff change them (effective at once)."""

    serializer_class = AlertRuleSerializer
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]
    queryset = AlertRule.objects.order_by("priority", "code")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("user_id", QUERY_ID_SCHEMA),
            OpenApiParameter("type", str, enum=TransactionType.values),
        ]
    )
)
class TransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """POST a customer's deposit or withdrawal: the rules answer in the same request."""

    serializer_class = TransactionSerializer
    parser_classes = [DecimalJSONParser]
    query_params_allowed = {"user_id", "type"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Transaction.objects.none()
        queryset = transactions.transactions_visible_to(self.request.user).select_related("customer").order_by("-id")
        if self.action == "list":
            queryset = _filter_customer(queryset, self.request.query_params)
            kind = self.request.query_params.get("type")
            if kind is not None:
                if kind not in ("deposit", "withdraw"):
                    raise exceptions.ValidationError({"type": ["Must be deposit or withdraw."]})
                queryset = queryset.filter(type=kind)
        return queryset

    @extend_schema(request=TransactionInSerializer, responses={200: TransactionAnswerSerializer})
    def create(self, request):
        serializer = TransactionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = transactions.transaction_record(owner=request.user, **serializer.validated_data)
        return Response(answer.as_dict())


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("code", QUERY_ID_SCHEMA),
            OpenApiParameter("user_id", QUERY_ID_SCHEMA),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ]
    )
)
class TransactionAlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The alerts your transactions fired, each with the transactions that made it fire."""

    serializer_class = TransactionAlertSerializer
    query_params_allowed = {"code", "user_id", "since", "until"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TransactionAlert.objects.none()
        queryset = (
            transactions.transaction_alerts_visible_to(self.request.user)
            .select_related("customer")
            .prefetch_related("evidence")
            .order_by("-id")
        )
        if self.action == "list":
            params, errors = self.request.query_params, {}
            queryset = _filter_customer(queryset, params)
            if "code" in params:
                code = query_id(params["code"])
                if code is None:
                    errors["code"] = ["Must be a rule code."]
                else:
                    queryset = queryset.filter(code=code)
            queryset = filter_time_range(queryset, params, field="created_at", errors=errors)
            if errors:
                raise exceptions.ValidationError(errors)
        return queryset


def _filter_customer(queryset, params):
    if "user_id" not in params:
        return queryset
    user_id = query_id(params["user_id"])
    if user_id is None:
        raise exceptions.ValidationError({"user_id": ["Must be a customer id."]})
    return queryset.filter(customer__external_id=user_id)
