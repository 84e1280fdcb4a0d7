"""Plumbing for the adapters that keep the five original services' documented endpoints answering.

Each app's `legacy` module holds thin views over the app's services; this module gives them what
they share: the originals' ways of sending a token, the opt-in default owner for old clients that
sent none, a JSON parser that ignores a missing or wrong Content-Type (as the originals' clients
often sent one), the "legacy" tag in the OpenAPI schema, and one hook that reshapes every error
into the original's style at the edge.
"""

import logging

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from accounts.authentication import BearerAuthentication
from accounts.models import User
from eventsys.api.fields import StrictIntegerField
from eventsys.api.parsers import JSONParser
from eventsys.api.renderers import JSONRenderer
from eventsys.api.schema import AutoSchema, LegacySchemaMixin

logger = logging.getLogger(__name__)

ACCESS_TOKEN_HEADER = "HTTP_X_ACCESS_TOKEN"


class LegacyTokenAuthentication(authentication.BaseAuthentication):
    """A JWT access token or an API token, sent the ways the originals' clients send it.

    `Authorization: Bearer <token>`, a bare `Authorization: <token>`, or `x-access-token: <token>`.
    """

    def __init__(self):
        self._bearer = BearerAuthentication()

    def authenticate(self, request):
        credential = request.META.get(ACCESS_TOKEN_HEADER, "").encode("latin-1").strip()
        if not credential:
            header = authentication.get_authorization_header(request).split()
            if not header:
                return None
            if len(header) == 2 and header[0].lower() == b"bearer":
                credential = header[1]
            elif len(header) == 1 and header[0].lower() != b"bearer":
                credential = header[0]
            else:
                raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>' or the token.")
        return self._bearer.authenticate_credential(credential)

    def authenticate_header(self, request):
        return 'Bearer realm="legacy"'


class LegacyDefaultOwnerAuthentication(authentication.BaseAuthentication):
    """With `LEGACY_DEFAULT_OWNER` set, a request that sends no token acts as that user.

    `methods` limits it to some HTTP methods of a view (None: all of them).
    """

    def __init__(self, methods: frozenset[str] | None = None):
        self.methods = methods

    def authenticate(self, request):
        username = settings.LEGACY_DEFAULT_OWNER
        if not username or (self.methods is not None and request.method not in self.methods):
            return None
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            logger.error("LEGACY_DEFAULT_OWNER=%r names no active user; answering 401.", username)
            return None
        return user, None


class LegacySchema(LegacySchemaMixin, AutoSchema):
    def get_tags(self) -> list[str]:
        return ["legacy"]


class AnyContentTypeJSONParser(JSONParser):
    """Reads the body as JSON whatever Content-Type the client declared (curl -d sends a form type)."""

    media_type = "*/*"


class LegacyView(APIView):
    """Base of every legacy adapter view.

    Subclasses answer in their original's shapes and override `legacy_error` to give errors the
    original's style; `acts_as_default_owner` marks endpoints whose original needed no token
    (True for every method of the view, or a set of method names such as {"POST"}).
    """

    authentication_classes = [LegacyTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser, AnyContentTypeJSONParser]
    renderer_classes = [JSONRenderer]
    schema = LegacySchema()
    acts_as_default_owner: bool | set[str] = False
    # The status of a request whose fields are invalid (FastAPI's originals answered 422).
    invalid_status = 400

    def get_authenticators(self):
        authenticators = super().get_authenticators()
        if self.acts_as_default_owner:
            methods = None if self.acts_as_default_owner is True else frozenset(self.acts_as_default_owner)
            authenticators.append(LegacyDefaultOwnerAuthentication(methods))
        return authenticators

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        data = response.data
        if isinstance(data, dict) and "detail" in data:
            message, fields = str(data["detail"]), None
        else:
            message, fields = "Invalid input.", field_messages(data)
            response.status_code = self.invalid_status
        response.data = self.legacy_error(status=response.status_code, message=message, fields=fields)
        return response

    def legacy_error(self, *, status: int, message: str, fields: dict[str, list[str]] | None) -> dict:
        """The body of an error answer in the original's style; `fields` is set for invalid input."""
        body = {"message": message}
        if fields:
            body["errors"] = fields
        return body


class LegacyPageSerializer(serializers.Serializer):
    """The originals' `?page=` (from 1) and `?limit=` (capped at API_MAX_PAGE_SIZE)."""

    page = StrictIntegerField(min_value=1, max_value=1_000_000, default=1)
    limit = StrictIntegerField(min_value=1, required=False)

    def to_internal_value(self, data):
        # DRF reads an empty form box as no value; an empty `?limit=` is a client's mistake, as in /api/v1/.
        blank = {name: ["A valid integer is required."] for name in self.fields if data.get(name) == ""}
        if blank:
            raise serializers.ValidationError(blank)
        return super().to_internal_value(data)


def legacy_page(query_params, *, default_limit: int | None = None) -> slice:
    """The rows `?page=&limit=` asks for; bad values are a 400 naming them. A page past the end is
    simply empty. `default_limit` defaults to API_MAX_PAGE_SIZE (old clients never paginated)."""
    serializer = LegacyPageSerializer(data=query_params)
    serializer.is_valid(raise_exception=True)
    cap = settings.API_MAX_PAGE_SIZE
    limit = min(serializer.validated_data.get("limit", default_limit or cap), cap)
    start = (serializer.validated_data["page"] - 1) * limit
    return slice(start, start + limit)


def field_messages(data) -> dict[str, list[str]]:
    """DRF's (possibly nested) validation detail flattened to `{"field.sub": ["message", …]}`."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and value and not all(isinstance(item, str) for item in value):
            for index, item in enumerate(value):
                walk(f"{prefix}.{index}" if prefix else str(index), item)
        elif isinstance(value, list):
            flat.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in value)
        else:
            flat.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", data)
    return flat


class LegacyTokenScheme(OpenApiAuthenticationExtension):
    target_class = "eventsys.api.legacy.LegacyTokenAuthentication"
    name = ["legacyBearer", "legacyAccessToken"]

    def get_security_requirement(self, auto_schema):
        return [{"legacyBearer": []}, {"legacyAccessToken": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "As for /api/v1/ (a JWT access token or an API token); the bare token is accepted too.",
            },
            {"type": "apiKey", "in": "header", "name": "x-access-token"},
        ]


class LegacyDefaultOwnerScheme(OpenApiAuthenticationExtension):
    """No scheme of its own: it only applies when the operator set LEGACY_DEFAULT_OWNER."""

    target_class = "eventsys.api.legacy.LegacyDefaultOwnerAuthentication"
    name = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []
