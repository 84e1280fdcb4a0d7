"""The site's root and its not-found answer.

`GET /` is a landing page for a browser. An API client (one that does not ask for HTML) gets
Kryptolert's `GET /` answer instead, as that original's clients used it to see the service up.
A URL that matches no route is a JSON 404 in the API's shape, unless the client asks for HTML.
"""

from django.http import JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework.permissions import AllowAny
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.response import Response

from eventsys.api.fields import StrictCharField
from eventsys.api.legacy import LegacyView
from eventsys.api.renderers import JSONRenderer

KRYPTOLERT_HELLO = {"message": "Adithya Narayan Krypto Task"}


class LandingView(LegacyView):
    """A browser gets the landing page; any other client, Kryptolert's greeting."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, TemplateHTMLRenderer]  # the first is what `Accept: */*` gets
    template_name = "eventsys/landing.html"  # any answer in HTML (OPTIONS, an error) is the page

    @extend_schema(
        operation_id="legacy_kryptolert_root",
        summary="Kryptolert's greeting (a browser gets the landing page)",
        responses={
            200: OpenApiResponse(
                inline_serializer("LegacyKryptolertGreeting", {"message": StrictCharField()}),
                description="JSON to an API client; `text/html` (the landing page) to a client that asks for it.",
            ),
            404: OpenApiResponse(
                inline_serializer("LegacyKryptolertNotFound", {"message": StrictCharField()}),
                description="`?format=` names neither json nor html.",
            ),
        },
    )
    def get(self, request):
        return Response(KRYPTOLERT_HELLO)


def wants_html(request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def not_found(request, exception):
    """handler404: a URL no route matches (with DEBUG off)."""
    if wants_html(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
