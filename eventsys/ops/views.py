from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from eventsys.ops.services import readiness_report


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

    @extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}))
    def get(self, request):
        return Response({"status": "ok"})


class ReadyCheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    detail = serializers.CharField()


class ReadySerializer(serializers.Serializer):
    status = serializers.CharField()
    checks = serializers.DictField(child=ReadyCheckSerializer())
    failing = serializers.ListField(child=serializers.CharField())


class ReadyView(_ProbeView):
    """Readiness: database, broker, and recent beat and worker heartbeats; 503 names what failed."""

    @extend_schema(responses={200: ReadySerializer, 503: ReadySerializer})
    def get(self, request):
        report = readiness_report()
        ok = all(check.ok for check in report.values())
        body = {
            "status": "ok" if ok else "unavailable",
            "checks": {name: {"ok": check.ok, "detail": check.detail} for name, check in report.items()},
            "failing": [name for name, check in report.items() if not check.ok],
        }
        return Response(body, status=200 if ok else 503)
