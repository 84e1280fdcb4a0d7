from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import ApiToken
from events import ingestion
from events.filters import IngestedEventFilterSet
from events.models import IngestedEvent
from eventsys.api.dry_run import DRY_RUN_PARAMETER, answer
from eventsys.api.fields import StrictCharField, StrictIntegerField
from eventsys.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from eventsys.api.pagination import CursorPagination
from eventsys.api.parsers import JSONParser
from eventsys.api.schema import error_response
from eventsys.api.serializers import ModelSerializer
from eventsys.api.throttling import FixedWindowMixin


class IsApiTokenRequest(BasePermission):
    message = "Ingestion takes an API token: Authorization: Bearer evs_…"

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiToken)


class ApiTokenRateThrottle(FixedWindowMixin, SimpleRateThrottle):
    """THROTTLE_INGEST requests per API token (429 with Retry-After beyond it)."""

    scope = "ingest"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class IngestedEventSerializer(ModelSerializer):
    class Meta:
        model = IngestedEvent
        fields = [
            "id",
            "event_type",
            "event_payload",
            "idempotency_key",
            "occurred_at",
            "occurred_at_in_future",
            "received_at",
        ]
        read_only_fields = fields


_Receipt = inline_serializer(
    "IngestReceipt",
    {
        "index": StrictIntegerField(),
        "status": serializers.ChoiceField(choices=["accepted", "duplicate"]),
        "id": StrictIntegerField(allow_null=True, help_text="The stored event (null when accepted by a dry run)"),
        "idempotency_key": StrictCharField(),
    },
)
_IngestResponse = inline_serializer(
    "IngestResponse",
    {
        "accepted": StrictIntegerField(),
        "duplicates": StrictIntegerField(),
        "receipts": serializers.ListField(child=_Receipt),
    },
)


class IngestView(APIView):
    """Store one event or a list of up to INGEST_MAX_BATCH, all or nothing, with one receipt per event.

    Each event: `event_type` (non-empty, ≤ 100 characters), `event_payload` (any JSON value),
    optional `idempotency_key` (a resend answers `duplicate`; the same key with another body is a
    409) and optional `occurred_at` (flagged when far in the future). Takes an API token.
    """

    permission_classes = [IsApiTokenRequest]
    throttle_classes = [ApiTokenRateThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        request=OpenApiTypes.ANY,
        parameters=[DRY_RUN_PARAMETER, IDEMPOTENCY_PARAMETER],
        responses={
            201: _IngestResponse,
            200: _IngestResponse,  # only duplicates, or a dry run
            409: error_response("An idempotency key was reused for another event; nothing was stored."),
        },
    )
    @idempotent
    def post(self, request):
        return answer(request, lambda: self._ingest(request), forget=_forget_accepted_ids)

    def _ingest(self, request) -> Response:
        ingestion.ingest_refuse_oversized(declared_bytes=int(request.META.get("CONTENT_LENGTH") or 0))
        receipts = ingestion.ingest(token=request.auth, body=request.data)
        accepted = sum(receipt.status == "accepted" for receipt in receipts)
        body = {
            "accepted": accepted,
            "duplicates": len(receipts) - accepted,
            "receipts": [
                {"index": r.index, "status": r.status, "id": r.id, "idempotency_key": r.idempotency_key}
                for r in receipts
            ],
        }
        return Response(body, status=status.HTTP_201_CREATED if accepted else status.HTTP_200_OK)


def _forget_accepted_ids(body: dict) -> None:
    """A dry run stored nothing: an accepted event has no id (a duplicate names the stored one)."""
    for receipt in body["receipts"]:
        if receipt["status"] == "accepted":
            receipt["id"] = None


class IngestedEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your ingested events, newest first, with cursor pagination (`next` / `previous` links)."""

    serializer_class = IngestedEventSerializer
    pagination_class = CursorPagination
    filterset_class = IngestedEventFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return IngestedEvent.objects.none()
        return ingestion.ingested_events_visible_to(self.request.user)
