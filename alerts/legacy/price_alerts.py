"""`/alerts/…` and `POST /tokentest` of Kryptolert, the original crypto price-alert service (a Flask app),
over alerts.services (its `GET /` greeting is eventsys.landing's answer to an API client).

Every answer is `{"message": …}`: a sentence, or the list of alerts. `coin` is sent as a lower-case
symbol (btc, cel) or a CoinGecko id and stored as the id; lists render it back as the catalogue's
symbol. `target_price` is a decimal string, read exactly; the direction is inferred from the current
price (see price_alert_create). Alerts are the same rows as /api/v1/price-alerts/: deleting one marks
it deleted, which is what `fetch_all/DELETED` lists. Every route needs a token, as the original's
did: in `x-access-token` as its clients sent it, or as `Authorization: Bearer …`.
"""

import re
from decimal import Decimal

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import path
from django.utils.http import http_date
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response

from alerts.models import Coin, PriceAlert
from alerts.serializers import PriceAlertSerializer
from alerts.services import price_alerts
from eventsys.api.fields import StrictCharField, StrictIntegerField
from eventsys.api.legacy import AnyContentTypeJSONParser, LegacyView, legacy_page
from eventsys.api.parsers import DecimalJSONParser

# The original's status names, upper-case, for ours: {"CREATED": "created", …}.
FILTERS = {value.upper(): value for value in PriceAlert.Status.values}
PAGE_PARAMETERS = {"page", "limit"}


class AnyContentTypeDecimalJSONParser(DecimalJSONParser):
    """JSON whatever the declared Content-Type (as the shared legacy parser), numbers read as Decimal."""

    media_type = AnyContentTypeJSONParser.media_type


# --- Wire shapes ------------------------------------------------------------------------------


class LegacyAlertCreateSerializer(PriceAlertSerializer):
    """`coin`: a symbol (shared ones go to the best market-cap rank) or a CoinGecko id; `target_price` > 0,
    at most 8 decimals (as /api/v1/)."""

    class Meta(PriceAlertSerializer.Meta):
        fields = ["coin", "target_price"]


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "pattern": "^[0-9]+$"}]})
class IdOrDigitsField(StrictIntegerField):
    """An id as a number or as its digits in text: the original's clients sent either."""

    json_types = (int, str)

    def to_internal_value(self, data):
        if isinstance(data, str) and not re.fullmatch(r"[0-9]+", data):
            self.fail("invalid")
        return super().to_internal_value(data)


class LegacyAlertDeleteSerializer(serializers.Serializer):
    id = IdOrDigitsField(min_value=1, max_value=2**63 - 1)


class LegacyAlertSerializer(serializers.Serializer):
    id = StrictIntegerField()
    coin = StrictCharField(
        source="symbol", help_text="The coin's symbol (its CoinGecko id if it has left the catalogue)"
    )
    target_price = serializers.SerializerMethodField()
    user_id = StrictIntegerField(source="owner_id")
    status = serializers.SerializerMethodField()
    created = serializers.SerializerMethodField()

    def get_target_price(self, alert) -> str:
        """The exact decimal without trailing zeros: "65000", "0.25"."""
        value: Decimal = alert.target_price
        return f"{value.normalize():f}"

    def get_status(self, alert) -> str:
        """CREATED (waiting), TRIGGERED or DELETED."""
        return alert.status.upper()

    def get_created(self, alert) -> str:
        """RFC 1123, in GMT: "Mon, 23 Nov 2026 15:13:15 GMT"."""
        return http_date(alert.created_at.timestamp())


MESSAGE = inline_serializer("LegacyAlertMessage", {"message": StrictCharField()})
ERROR = inline_serializer(
    "LegacyAlertError",
    {
        "message": StrictCharField(),
        "errors": serializers.DictField(child=serializers.ListField(child=StrictCharField()), required=False),
    },
)
ALERTS = inline_serializer("LegacyAlertList", {"message": LegacyAlertSerializer(many=True)})


# --- Views ------------------------------------------------------------------------------------


class LegacyAlertsView(LegacyView):
    parser_classes = [DecimalJSONParser, AnyContentTypeDecimalJSONParser]


class LegacyAlertCreateView(LegacyAlertsView):
    """Create an alert in USD; a live alert of yours with the same coin, target and direction is a 409."""

    @extend_schema(
        operation_id="legacy_alerts_create",
        request=LegacyAlertCreateSerializer,
        responses={200: MESSAGE, 400: ERROR, 401: MESSAGE, 409: MESSAGE},
    )
    def post(self, request):
        serializer = LegacyAlertCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            price_alerts.price_alert_create(owner=request.user, refuse_duplicate=True, **serializer.validated_data)
        except price_alerts.PriceAlertExists:
            return Response({"message": "Alert Already Exists"}, status=status.HTTP_409_CONFLICT)
        return Response({"message": "Alert Created SuccessFully"})


class LegacyAlertDeleteView(LegacyAlertsView):
    """Mark one of your alerts deleted (kept, listed under DELETED, never polled again); again is harmless."""

    @extend_schema(
        operation_id="legacy_alerts_delete",
        request=LegacyAlertDeleteSerializer,
        responses={200: MESSAGE, 400: ERROR, 401: MESSAGE, 404: MESSAGE},
    )
    def post(self, request):
        serializer = LegacyAlertDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert = price_alerts.price_alerts_visible_to(request.user).filter(pk=serializer.validated_data["id"]).first()
        if alert is None:
            return Response({"message": "Invalid Alert Id"}, status=status.HTTP_404_NOT_FOUND)
        price_alerts.price_alert_delete(alert=alert)
        return Response({"message": "Alert Deleted Successfully"})


class LegacyAlertListView(LegacyAlertsView):
    """Your alerts, newest first, a page at a time (`?page=` from 1, `?limit=` up to API_MAX_PAGE_SIZE, its default)."""

    @extend_schema(
        operation_id="legacy_alerts_fetch_all",
        request=None,
        parameters=[
            OpenApiParameter("page", int, description="From 1 (the default); past the end, an empty list"),
            OpenApiParameter("limit", int, description="At most API_MAX_PAGE_SIZE (the default)"),
        ],
        responses={200: ALERTS, 400: ERROR, 401: MESSAGE},
    )
    def post(self, request, status_filter: str | None = None):
        unknown = sorted(set(request.query_params) - PAGE_PARAMETERS)
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        window = legacy_page(request.query_params)
        alerts = price_alerts.price_alerts_visible_to(request.user)
        if status_filter is not None:
            if status_filter.upper() not in FILTERS:
                raise exceptions.ValidationError({"filter": [f"Must be one of {', '.join(FILTERS)}."]})
            alerts = alerts.filter(status=FILTERS[status_filter.upper()])
        symbol = Coin.objects.filter(id=OuterRef("coin")).values("symbol")[:1]
        rows = alerts.annotate(symbol=Coalesce(Subquery(symbol), F("coin"))).order_by("-created_at", "-id")
        return Response({"message": LegacyAlertSerializer(rows[window], many=True).data})


class LegacyTokenTestView(LegacyAlertsView):
    """Whose token this is: the original's check that a client's token works."""

    @extend_schema(operation_id="legacy_tokentest", request=None, responses={200: MESSAGE, 401: MESSAGE})
    def post(self, request):
        # The original's words, its spelling included.
        return Response({"message": f"Token Found, Successfull Login of {request.user.email or request.user.username}"})


FILTER_PARAMETER = OpenApiParameter(
    "status_filter", str, OpenApiParameter.PATH, enum=list(FILTERS), description="Case-insensitive"
)


@extend_schema_view(post=extend_schema(operation_id="legacy_alerts_fetch_all_no_slash"))
class LegacyAlertListNoSlashView(LegacyAlertListView):
    """The same without the trailing slash."""


@extend_schema_view(post=extend_schema(operation_id="legacy_alerts_fetch_by_status", parameters=[FILTER_PARAMETER]))
class LegacyAlertFilteredListView(LegacyAlertListView):
    """Your alerts in one status (CREATED, TRIGGERED or DELETED), paginated as fetch_all."""


@extend_schema_view(post=extend_schema(operation_id="legacy_alerts_fetch_by_status_no_slash"))
class LegacyAlertFilteredListNoSlashView(LegacyAlertFilteredListView):
    """The same without the trailing slash."""


urlpatterns = [
    path("tokentest", LegacyTokenTestView.as_view(), name="legacy-tokentest"),
    path("alerts/create", LegacyAlertCreateView.as_view(), name="legacy-alerts-create"),
    path("alerts/delete", LegacyAlertDeleteView.as_view(), name="legacy-alerts-delete"),
    path("alerts/fetch_all/", LegacyAlertListView.as_view(), name="legacy-alerts-fetch-all"),
    path("alerts/fetch_all", LegacyAlertListNoSlashView.as_view()),
    path("alerts/fetch_all/<str:status_filter>/", LegacyAlertFilteredListView.as_view(), name="legacy-alerts-fetch"),
    path("alerts/fetch_all/<str:status_filter>", LegacyAlertFilteredListNoSlashView.as_view()),
]
