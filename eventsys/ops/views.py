import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from eventsys.api.fields import StrictBooleanField, StrictCharField
from eventsys.ops.metrics import ServiceCollector
from eventsys.ops.services import DEGRADABLE_CHECKS, readiness_report

logger = logging.getLogger(__name__)


class _ProbeView(APIView):
    # Probes answer anyone, are never throttled and never cached.
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class HealthView(_ProbeView):
    """Liveness: the process answers. Touches nothing else, so a slow database cannot fail it."""

    @extend_schema(responses=inline_serializer("Health", {"status": StrictCharField()}))
    def get(self, request):
        return Response({"status": "ok"})


class ReadyCheckSerializer(serializers.Serializer):
    ok = StrictBooleanField()
    detail = StrictCharField()


class ReadySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unavailable"])
    checks = serializers.DictField(child=ReadyCheckSerializer())
    failing = serializers.ListField(
        child=StrictCharField(), help_text="Failing checks that make the service unready (503)."
    )
    degraded = serializers.ListField(
        child=StrictCharField(),
        help_text="Failing checks the service works without, still 200: the cache (throttles fail open) and the "
        "dispatcher (slots due over WATCHDOG_GRACE_SECONDS and nothing fired: triggers are not firing, the API "
        "still answers).",
    )


class ReadyView(_ProbeView):
    """Readiness: database, broker, recent beat and worker heartbeats, the cache and the dispatcher.

    503 when a check in `failing` fails; a failing cache or a stopped dispatcher only degrades the
    service (200, `status` "degraded", named in `degraded`), so a load balancer keeps serving from the
    database alone.
    """

    @extend_schema(responses={200: ReadySerializer, 503: ReadySerializer})
    def get(self, request):
        report = readiness_report()
        failing = [name for name, check in report.items() if not check.ok and name not in DEGRADABLE_CHECKS]
        degraded = [name for name, check in report.items() if not check.ok and name in DEGRADABLE_CHECKS]
        body = {
            "status": "unavailable" if failing else "degraded" if degraded else "ok",
            "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in report.items()},
            "failing": failing,
            "degraded": degraded,
        }
        return Response(body, status=503 if failing else 200)


def metrics(request):
    """`GET /metrics`: Prometheus's text format (eventsys.ops.metrics). Off unless METRICS_ENABLED; with
    METRICS_TOKEN set, only a scraper sending `Authorization: Bearer <token>` is answered."""
    if not settings.METRICS_ENABLED:
        raise Http404
    if settings.METRICS_TOKEN:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), settings.METRICS_TOKEN.encode()):
            return HttpResponse("A valid METRICS_TOKEN is required.\n", status=401, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(now=timezone.now))
    try:
        exposition = generate_latest(registry)
    except DatabaseError as exc:  # the figures are the database's: without it the scrape fails, loudly
        logger.warning("metrics unavailable: database error %s", exc.__class__.__name__)
        return HttpResponse("The database is unavailable.\n", status=503, content_type="text/plain")
    response = HttpResponse(exposition, content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
