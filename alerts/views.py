from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets

from alerts.models import PriceAlert, PriceTick
from alerts.serializers import PriceAlertSerializer, PriceTickSerializer
from alerts.services import price_alerts
from eventsys.api.filters import RejectUnknownQueryParams, StableOrderingFilter


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
