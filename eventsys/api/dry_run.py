"""`?dry_run=true`: a write evaluated exactly as a real one, then undone.

The view runs unchanged (same serializers, same services, same locks) inside a transaction that is
rolled back, so what it would store is never committed, and what it would send never leaves:
e-mails, broker messages and webhooks are all sent by `transaction.on_commit` callbacks, which a
rollback discards. The answer is the real one, with `"dry_run": true`, status 200 rather than 201
(nothing was created), and the identifiers of what would have been created set to null: they name
rows that do not exist.
"""

import copy
from collections.abc import Callable, Iterable

from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from eventsys.api.fields import StrictBooleanField

DRY_RUN_PARAMETER = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    description=(
        "true: validate and evaluate the request exactly as a real one and answer what would happen, "
        'with `"dry_run": true`; nothing is stored or sent. Status 200, identifiers of new objects null.'
    ),
)


def dry_run_requested(request) -> bool:
    """Whether the request asks for a dry run; anything but true or false is a 400."""
    value = request.query_params.get("dry_run")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise ValidationError({"dry_run": ["Must be true or false."]})
    return value == "true"


def answer(request, handler: Callable[[], Response], *, created: Iterable[str] = (), forget=None) -> Response:
    """The view's answer: `handler()` itself, or its dry run when the request asks for one."""
    if dry_run_requested(request):
        return dry_run(handler, created=created, forget=forget)
    return handler()


def dry_run(
    handler: Callable[[], Response], *, created: Iterable[str] = (), forget: Callable[[dict], None] | None = None
) -> Response:
    """Run `handler` (the view's real work) and roll back everything it wrote.

    `created`: the answer's fields naming the new object ("id", "cancel_token"), set to null; `forget`
    does the same for an answer of another shape. An error (a 4xx raised as an exception) passes
    through unchanged: it is what the real request would answer."""
    with transaction.atomic():
        response = handler()
        transaction.set_rollback(True)
    data = dict(response.data)
    for name in created:
        data[name] = None
    if forget is not None:
        forget(data)
    data["dry_run"] = True
    code = status.HTTP_200_OK if response.status_code == status.HTTP_201_CREATED else response.status_code
    return Response(data, status=code)


def dry_run_variant(
    serializer_class: type[serializers.Serializer], *, created: Iterable[str], extra: dict | None = None
) -> type:
    """The serializer of a dry run's answer, for the schema: `serializer_class`'s fields with those
    in `created` nullable, the `extra` fields a dry run adds, and `dry_run`."""
    nullable = set(created)
    added = extra or {}

    class DryRunSerializer(serializer_class):
        dry_run = StrictBooleanField(read_only=True, help_text="Always true: nothing was stored or sent.")

        class Meta(serializer_class.Meta):
            fields = [*serializer_class.Meta.fields, "dry_run"]

        def get_fields(self):
            fields = super().get_fields()
            for name in nullable:
                fields[name].allow_null = True
            for name, field in added.items():
                fields[name] = copy.deepcopy(field)
            return fields

    name = serializer_class.__name__.removesuffix("Serializer")
    DryRunSerializer.__name__ = DryRunSerializer.__qualname__ = f"{name}DryRunSerializer"
    return DryRunSerializer
