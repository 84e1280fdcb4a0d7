"""A filter backend that answers 400 to query parameters a list does not understand.

A typo such as `?stauts=active` silently returning everything is worse than an error. A view
names the parameters it reads in `query_params_allowed`; pagination, format and the parameters of
its other filter backends are always allowed.
"""

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
