"""`GET /api/ready` and `POST /api/event` of the original event consumer (FastAPI), over our services.

The original served `/ready` and `/event` at the root and documented them under `/api/`; both answer.
Errors keep FastAPI's shapes: `{"detail": "…"}`, and 422 `{"detail": [{"loc", "msg", "type"}, …]}`
for invalid events. Events are stored by events.ingestion.ingest, as /api/v1/ingest/ stores them.
"""

from django.urls import path
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.models import ApiToken
from events import ingestion
from events.ingestion_views import ApiTokenRateThrottle
from eventsys.api.fields import StorableJSONField, StrictCharField
from eventsys.api.legacy import LegacyView
from eventsys.api.throttling import UserRateThrottle
from eventsys.ops.services import readiness_report

# What the consumer needs to take events; beat and worker heartbeats do not stop it (/api/ready/ has them).
READY_CHECKS = ("database", "broker")


class LegacyIngestEventSerializer(serializers.Serializer):
    event_type = StrictCharField(max_length=100)
    event_payload = StorableJSONField(help_text="A string in the original; any JSON value is stored as sent.")


_EVENT_BODY = PolymorphicProxySerializer(
    component_name="LegacyIngestBody",
    serializers=[LegacyIngestEventSerializer, LegacyIngestEventSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)
_DETAIL = inline_serializer("LegacyIngestDetail", {"detail": StrictCharField()})
_VALIDATION_ERROR = inline_serializer(
    "LegacyIngestValidationError",
    {
        "detail": serializers.ListField(
            child=inline_serializer(
                "LegacyIngestFieldError",
                {
                    "loc": serializers.ListField(child=serializers.JSONField()),
                    "msg": StrictCharField(),
                    "type": StrictCharField(),
                },
            )
        )
    },
)


class LegacyIngestReadyView(LegacyView):
    """Ready when the database and the broker answer (the checks of /api/ready/ that ingestion needs)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(
        operation_id="legacy_ingest_ready",
        request=None,
        responses={
            200: inline_serializer("LegacyIngestReady", {"status": StrictCharField()}),
            503: _DETAIL,
        },
    )
    def get(self, request):
        report = readiness_report()
        failing = [name for name in READY_CHECKS if not report[name].ok]
        if failing:
            return Response({"detail": f"Not ready: {', '.join(failing)} unavailable."}, status=503)
        return Response({"status": "ready"})

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class LegacyIngestEventView(LegacyView):
    """Store one event or a list of them, all or nothing, for the token's user (an API token or a JWT)."""

    # Per API token, sharing /api/v1/ingest/'s counter; a person's JWT counts as the user.
    throttle_classes = [ApiTokenRateThrottle, UserRateThrottle]
    invalid_status = 422

    @extend_schema(
        operation_id="legacy_ingest_event",
        request=_EVENT_BODY,
        responses={
            200: inline_serializer("LegacyIngestAccepted", {"status_code": StrictCharField()}),
            401: _DETAIL,
            409: OpenApiResponse(_DETAIL, description="An idempotency key was reused for another event."),
            413: _DETAIL,
            422: _VALIDATION_ERROR,
            429: _DETAIL,
        },
    )
    def post(self, request):
        ingestion.ingest_refuse_oversized(declared_bytes=int(request.META.get("CONTENT_LENGTH") or 0))
        body = request.data
        # A machine's API token is recorded with its events; a person's JWT stores them as theirs.
        sender = {"token": request.auth} if isinstance(request.auth, ApiToken) else {"owner": request.user}
        try:
            ingestion.ingest(**sender, body=body)
        except ingestion.InvalidBatch as exc:
            return Response({"detail": _pydantic_errors(body, exc.errors)}, status=422)
        return Response({"status_code": "200"})

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.ParseError):  # FastAPI answers a body that is not JSON with a 422
            error = {"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}
            return Response({"detail": [error]}, status=422)
        if isinstance(exc, exceptions.NotAuthenticated):
            exc.detail = "Not authenticated"  # FastAPI's OAuth2PasswordBearer, no token sent
        elif isinstance(exc, exceptions.AuthenticationFailed):
            # The original's words for a token it refused; simplejwt's detail is a dict.
            reason = exc.detail.get("detail", "") if isinstance(exc.detail, dict) else exc.detail
            exc.detail = f"Invalid token: {reason}"
        return super().handle_exception(exc)

    def legacy_error(self, *, status, message, fields):
        if fields:
            return {
                "detail": [
                    {"loc": ["body", *name.split(".")], "msg": msg, "type": "value_error"}
                    for name, messages in fields.items()
                    for msg in messages
                ]
            }
        return {"detail": message}


def _pydantic_errors(body, errors: list[dict]) -> list[dict]:
    """InvalidBatch's errors as FastAPI lists them: `loc` is ["body", field] for one event, ["body",
    index, field] in a list; `type` is "missing" for an absent field, as pydantic says."""
    listed = []
    for error in errors:
        index = error["index"]
        loc = ["body"] if index is None or not isinstance(body, list) else ["body", index]
        event = body[index] if isinstance(body, list) and index is not None else body
        for field, messages in error["fields"].items():
            where = loc if field == "non_field_errors" else [*loc, field]
            missing = isinstance(event, dict) and field != "non_field_errors" and field not in event
            for msg in messages:
                listed.append({"loc": where, "msg": msg, "type": "missing" if missing else "value_error"})
    return listed


# The original's own paths, at the root: the same views under their own operation ids.
@extend_schema_view(get=extend_schema(operation_id="legacy_ingest_ready_root"))
class LegacyIngestReadyRootView(LegacyIngestReadyView):
    pass


@extend_schema_view(post=extend_schema(operation_id="legacy_ingest_event_root"))
class LegacyIngestEventRootView(LegacyIngestEventView):
    pass


urlpatterns = [
    path("api/ready", LegacyIngestReadyView.as_view(), name="legacy-ingest-ready"),
    path("ready", LegacyIngestReadyRootView.as_view(), name="legacy-ingest-ready-root"),
    path("api/event", LegacyIngestEventView.as_view(), name="legacy-ingest-event"),
    path("event", LegacyIngestEventRootView.as_view(), name="legacy-ingest-event-root"),
]
