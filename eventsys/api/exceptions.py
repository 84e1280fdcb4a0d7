"""The API's one exception handler.

Errors answer in DRF's shape: field errors as `{"field": ["message", …]}`, everything else as
`{"detail": "…", "code": "…"}`. Django `ValidationError`s raised by services (model
`full_clean()`, password validators) become 400s with field errors; domain errors carry their own
status and code. A database that is unreachable or drops the connection mid-request is a 503 with
Retry-After: the request's transaction died with the connection, so nothing of it was stored and
the client may simply send it again.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from eventsys.api.errors import DomainError

logger = logging.getLogger(__name__)
DATABASE_RETRY_AFTER_SECONDS = 1


class DatabaseUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The database is unavailable; nothing was stored. Try again."
    default_code = "database_unavailable"


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.payload(), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_validation_detail(exc))
    elif isinstance(exc, Http404):  # Django's message names the model ("No Trigger matches …"): not said
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable during %s: %s", context["request"].path, exc)
        exc = DatabaseUnavailable()
        exc.wait = DATABASE_RETRY_AFTER_SECONDS  # DRF's handler turns `wait` into Retry-After
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        detail = response.data.get("detail")
        if detail is not None and "code" not in response.data:
            response.data["code"] = getattr(detail, "code", None) or exc.default_code
    return response


def _django_validation_detail(exc: DjangoValidationError):
    if hasattr(exc, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {"non_field_errors": exc.messages}
