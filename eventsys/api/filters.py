"""A filter backend that answers 400 to query parameters a list does not understand.

A typo such as `?stauts=active` silently returning everything is worse than an error. A view
names the parameters it reads in `query_params_allowed`; pagination, format and the parameters of
its other filter backends are always allowed.
"""

import re
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter

_ALWAYS_ALLOWED = {"format"}


class RejectUnknownQueryParams(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        if request.method not in ("GET", "HEAD"):
            return queryset
        allowed = set(_ALWAYS_ALLOWED) | set(getattr(view, "query_params_allowed", ()))
        paginator = getattr(view, "paginator", None)
        for name in (
            "page_query_param",
            "page_size_query_param",
            "cursor_query_param",
            "limit_query_param",
            "offset_query_param",
        ):
            value = getattr(paginator, name, None)
            if value:
                allowed.add(value)
        for backend in getattr(view, "filter_backends", ()):
            for name in ("search_param", "ordering_param"):
                value = getattr(backend, name, None)
                if value:
                    allowed.add(value)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise exceptions.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return queryset


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with the primary key appended, so pages never repeat or skip rows on ties."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("id")
        return ordering


_ID = re.compile(r"[0-9]{1,18}")
# The OpenAPI schema of a query parameter read by query_id.
QUERY_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}


def query_id(value: str) -> int | None:
    """A positive database id from a query parameter, or None when it is not one."""
    return int(value) if _ID.fullmatch(value) and int(value) > 0 else None


def query_datetime(value: str) -> datetime | None:
    """An ISO 8601 time with an offset from a query parameter, in UTC; None when malformed or naive."""
    try:
        when = parse_datetime(value)
        return when.astimezone(UTC) if when is not None and when.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def filter_time_range(queryset, params, *, field: str, errors: dict):
    """`?since=` (inclusive) and `?until=` (exclusive) on `field`; a malformed value is added to `errors`."""
    for param, lookup in (("since", f"{field}__gte"), ("until", f"{field}__lt")):
        if param not in params:
            continue
        when = query_datetime(params[param])
        if when is None:
            errors[param] = ["Must be an ISO 8601 time with an offset, e.g. 2026-11-23T10:00:00Z."]
        else:
            queryset = queryset.filter(**{lookup: when})
    return queryset
