"""`GET /api/v1/`: the API's root, every collection by name (the browsable API's front door)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from eventsys.api.fields import StrictURLField

# Name in the answer -> URL name, job by job.
ENDPOINTS = {
    "register": "auth-register",
    "token": "auth-token",
    "token-refresh": "auth-token-refresh",
    "logout": "auth-logout",
    "me": "auth-me",
    "api-tokens": "api-token-list",
    "triggers": "trigger-list",
    "event-logs": "event-log-list",
    "events": "event-list",
    "ingest": "ingest",
    "ingested-events": "ingested-event-list",
    "price-alerts": "price-alert-list",
    "prices": "price-list",
    "transactions": "transaction-list",
    "transaction-alerts": "transaction-alert-list",
    "alert-rules": "alert-rule-list",
    "health": "health",
    "ready": "ready",
    "schema": "schema",
    "docs": "docs",
}


class ApiRootView(APIView):
    """Every endpoint of the API by name; each answers with its own methods (see `docs`)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="api_root",
        summary="The API's endpoints",
        responses=inline_serializer("ApiRoot", {name: StrictURLField() for name in ENDPOINTS}),
    )
    def get(self, request):
        return Response({name: reverse(url_name, request=request) for name, url_name in ENDPOINTS.items()})
