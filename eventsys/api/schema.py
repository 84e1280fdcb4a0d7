"""The project's OpenAPI schema class: every operation documents the errors it answers, not only its success.

drf-spectacular documents what a view returns. The errors come from layers all views share: the
request middleware (400 for control characters in the path or a query parameter, 413 for a body
over REQUEST_MAX_BYTES), authentication (401), permissions (403), lookups and pagination (404),
parsers (415), throttles (429), and the one exception handler that gives them their shape. They are
derived here from what each view is made of, so no view repeats them; a view declares with
`@extend_schema` only what is its own (a 409, say), and what it declares is kept as it is.

The adapters of the original services (`eventsys.api.legacy`) answer errors in their originals'
shapes; `LegacySchema` documents each view's shape by asking the view's own `legacy_error` for it,
so the documentation cannot drift from the code.
"""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly

from eventsys.api.schema_tags import job_of_path

ERROR = "Error"
FIELD_ERRORS = "FieldErrors"
_COMPONENTS = {
    ERROR: {
        "type": "object",
        "description": "An error that is not about particular fields. Some errors add members (`errors`).",
        "properties": {
            "detail": {"type": "string", "description": "What went wrong, in a sentence."},
            "code": {"type": "string", "description": "A stable code: not_found, throttled, invalid, …"},
        },
        "required": ["detail", "code"],
    },
    FIELD_ERRORS: {
        "type": "object",
        "description": (
            "Invalid input: messages per field (`non_field_errors` for the input as a whole); a nested "
            "object or list carries the errors of its members."
        ),
        "additionalProperties": {
            "anyOf": [
                {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
                {"type": "object"},
            ]
        },
    },
}
# Permissions that only ever answer 401 (no credentials) or let the request through.
_AUTHENTICATION_ONLY = (AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly)
_WRITES = ("POST", "PUT", "PATCH")


def error_ref(name: str = ERROR) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# What eventsys.request_limits answers on every route, whatever the view's own error shape.
_MIDDLEWARE_SHAPES = {"400": [error_ref(FIELD_ERRORS), error_ref(ERROR)], "413": [error_ref(ERROR)]}


def error_response(description: str) -> OpenApiResponse:
    """An `{"detail", "code"}` answer for a view's own `@extend_schema(responses=…)` (a 409, say)."""
    return OpenApiResponse(error_ref(), description=description)


def any_of(schemas: list[dict]) -> dict:
    unique = [schema for index, schema in enumerate(schemas) if schema not in schemas[:index]]
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        for name, schema in _COMPONENTS.items():
            registry.register_on_missing(ResolvedComponent(name, ResolvedComponent.SCHEMA, schema, name))
        responses = operation["responses"]
        for code, (description, schemas) in self.error_responses(operation).items():
            if code in responses:
                if code in ("400", "413"):  # the middleware answers these before any view, in the API's shape
                    for media in responses[code].get("content", {}).values():
                        media["schema"] = any_of([media["schema"], *_MIDDLEWARE_SHAPES[code]])
                continue
            content = {media_type: {"schema": any_of(schemas)} for media_type in self.error_media_types()}
            responses[code] = {"description": description, "content": content}
            if code == "429":
                responses[code]["headers"] = {
                    "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"}
                }
        if "404" in responses and "{" in path:
            # A value the URL pattern does not take (`<int:pk>`, a dot for a router's `[^/.]+`, a `/`) matches
            # no route: Django's own page for an unknown URL answers.
            responses["404"].setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}
        return operation

    # --- Which errors, and their shapes ---------------------------------------------------------

    def error_responses(self, operation: dict) -> dict[str, tuple[str, list[dict]]]:
        """Status code -> (description, the shapes the body may take)."""
        view, method = self.view, self.method
        parameters = operation.get("parameters", [])
        errors = {
            "400": (
                "Invalid input: messages per field, or a request that cannot be read (malformed JSON, "
                "control characters in the path or a query parameter, an unknown query parameter).",
                self.invalid_schemas(),
            )
        }
        if view.get_authenticators():
            errors["401"] = ("Credentials missing where required, or invalid, or expired.", self.error_schemas(401))
        if self._may_forbid():
            errors["403"] = ("Authenticated, but not allowed to do this.", self.error_schemas(403))
        if any(p["in"] == "path" for p in parameters) or any(p["name"] in ("page", "cursor") for p in parameters):
            errors["404"] = ("No such object of yours, or a page past the last one.", self.error_schemas(404))
        if method in _WRITES:
            errors["413"] = ("The request body is larger than REQUEST_MAX_BYTES.", self.too_large_schemas())
        if "requestBody" in operation and not any(p.media_type == "*/*" for p in view.get_parsers()):
            errors["415"] = ("The body's Content-Type is not one the operation reads.", self.error_schemas(415))
        if view.throttle_classes:
            errors["429"] = ("Too many requests: retry after Retry-After seconds.", self.error_schemas(429))
        if any(p["name"] == "Idempotency-Key" for p in parameters):
            errors["409"] = (
                "`idempotency_key_reused`: the key was used for another request; `idempotency_key_in_progress`: "
                "a request with this key is still running.",
                self.error_schemas(409),
            )
        return errors

    def invalid_schemas(self) -> list[dict]:
        return [error_ref(FIELD_ERRORS), error_ref(ERROR)]

    def error_schemas(self, status: int) -> list[dict]:
        return [error_ref(ERROR)]

    def too_large_schemas(self) -> list[dict]:
        # The middleware refuses by the declared length, before any view: always the API's shape.
        return [error_ref(ERROR)]

    def error_media_types(self) -> list[str]:
        return self.map_renderers("media_type") or ["application/json"]

    def _may_forbid(self) -> bool:
        try:
            permissions = self.view.get_permissions()
        except Exception:  # a view whose permissions depend on a real request
            permissions = [permission() for permission in self.view.permission_classes]
        if any(not isinstance(permission, _AUTHENTICATION_ONLY) for permission in permissions):
            return True
        # A session without its CSRF token is refused on writes.
        return self.method in (*_WRITES, "DELETE") and any(
            isinstance(authenticator, SessionAuthentication) for authenticator in self.view.get_authenticators()
        )

    # --- Tags and summaries -----------------------------------------------------------------------

    def get_tags(self) -> list[str]:
        return [job_of_path(self.path)]

    def get_summary(self) -> str:
        """The operation in a few words: the CRUD of a collection by its model's name, anything else
        by the first sentence of its docstring (a view's own `summary` is kept)."""
        action = getattr(self.view, "action", None)
        model = _model_of(self.view)
        if action in _CRUD_SUMMARIES and model is not None:
            meta = model._meta
            singular = str(meta.verbose_name)
            article = "an" if singular[0] in "aeiou" else "a"
            return _CRUD_SUMMARIES[action].format(article=article, singular=singular, plural=meta.verbose_name_plural)
        return first_sentence(self.get_description()) or f"{self.method} {self.path}"

    # --- Fields ---------------------------------------------------------------------------------

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.DecimalField) and schema.get("type") == "string":
            # A decimal is read from text ("42.50") or from a JSON number (eventsys.api.fields.ExactDecimalField).
            text = {key: schema.pop(key) for key in ("type", "format", "pattern") if key in schema}
            number = {"type": "number"}
            for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if bound in schema:
                    number[bound] = schema.pop(bound)
            if schema.pop("nullable", False):
                text["nullable"] = number["nullable"] = True
            schema["oneOf"] = [text, number]
        return schema

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)  # where drf-spectacular adds a field's format
        if schema.get("format") in ("uri", "email") and _may_be_blank(field):
            # "" is neither a URL nor an address: the field holds one, or is empty.
            schema["anyOf"] = [{"format": schema.pop("format")}, {"maxLength": 0}]


_CRUD_SUMMARIES = {
    "list": "List {plural}",
    "create": "Create {article} {singular}",
    "retrieve": "Get {article} {singular}",
    "update": "Replace {article} {singular}",
    "partial_update": "Change {article} {singular}",
    "destroy": "Delete {article} {singular}",
}


def first_sentence(text: str | None) -> str:
    paragraph = (text or "").strip().split("\n\n")[0].replace("\n", " ")
    sentence = paragraph.split(". ")[0].split(": ")[0].rstrip(".")
    return sentence[:117] + "…" if len(sentence) > 118 else sentence


def _model_of(view):
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer_class = getattr(view, "serializer_class", None)
    return getattr(getattr(serializer_class, "Meta", None), "model", None)


def _may_be_blank(field) -> bool:
    if getattr(field, "allow_blank", False):
        return True
    model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
    if model is None or not isinstance(getattr(field, "source", None), str) or field.source == "*":
        return False
    try:
        return model._meta.get_field(field.source).blank
    except FieldDoesNotExist:
        return False


# --- The legacy adapters' error shapes ------------------------------------------------------------

_FIELD = "<field>"
_MESSAGE = "<message>"


def _shape(value) -> dict:
    """The JSON schema of a sample error body; a dict keyed by the field sentinel is a map of fields."""
    if isinstance(value, dict):
        if set(value) == {_FIELD}:
            return {"type": "object", "additionalProperties": _shape(value[_FIELD])}
        return {
            "type": "object",
            "properties": {str(key): _shape(item) for key, item in value.items()},
            "required": [str(key) for key in value],
        }
    if isinstance(value, list):
        return {"type": "array", "items": _shape(value[0])} if value else {"type": "array"}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    return {"type": "string"}


class LegacySchemaMixin:
    """For AutoSchema: errors in the shapes the view's `legacy_error` gives them."""

    def get_tags(self) -> list[str]:
        return ["legacy"]

    def _legacy(self, status: int, *, fields: bool = False) -> dict:
        sample = self.view.legacy_error(
            status=status, message=_MESSAGE, fields={_FIELD: [_MESSAGE]} if fields else None
        )
        return _shape(sample)

    def error_responses(self, operation):
        errors = super().error_responses(operation)
        invalid = getattr(self.view, "invalid_status", 400)
        if invalid != 400:
            errors.setdefault(str(invalid), ("Invalid input, per field.", [self._legacy(invalid, fields=True)]))
        return errors

    def invalid_schemas(self) -> list[dict]:
        # The view's own answers, and the middleware's (control characters) in the API's shape.
        own = [self._legacy(400)]
        if getattr(self.view, "invalid_status", 400) == 400:
            own.insert(0, self._legacy(400, fields=True))
        return [*own, *super().invalid_schemas()]

    def error_schemas(self, status: int) -> list[dict]:
        return [self._legacy(status)]

    def too_large_schemas(self) -> list[dict]:
        return [*super().too_large_schemas(), self._legacy(413)]
