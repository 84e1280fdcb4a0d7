"""List filtering: django-filter FilterSets, and a 400 for query parameters a list does not understand.

Each list names its FilterSet (`filterset_class`, in the app's `filters.py`); `ListFilterBackend`
applies it, the browsable API renders it as a form and drf-spectacular documents its parameters.
A typo such as `?stauts=active` silently returning everything is worse than an error:
`RejectUnknownQueryParams` answers 400 to any parameter that is not the FilterSet's, pagination's,
format's, another filter backend's (search, ordering) or one the view reads itself
(`query_params_allowed`, e.g. `tz`).

An empty value (`?status=`, what a form sends for a field left blank) does not filter; any other
value a filter cannot read is a 400 naming the parameter, in the API's field-error shape.
"""

import re
from datetime import UTC

from django import forms
from django.utils.dateparse import parse_datetime
from django_filters import rest_framework as django_filters
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.drainage import add_trace_message
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from eventsys.api.bounds import instant_error

_ALWAYS_ALLOWED = {"format"}
TIME_MESSAGE = "Must be an ISO 8601 time with an offset, e.g. 2026-11-23T10:00:00Z."


def one_of(values) -> str:
    """The message for a value outside `values`."""
    return f"Must be one of {', '.join(values)}."


# --- Backends -------------------------------------------------------------------------------------


class RejectUnknownQueryParams(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        if request.method not in ("GET", "HEAD"):
            return queryset
        allowed = set(_ALWAYS_ALLOWED) | set(getattr(view, "query_params_allowed", ()))
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            allowed.update(filterset_class.base_filters)
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


def _lists(view) -> bool:
    """The `list` action, or an extra action that lists rows under an object and names their FilterSet
    in its decorator (`@action(detail=True, filterset_class=…)`, as `/triggers/{id}/logs/`)."""
    if not hasattr(view, "action"):  # a generic view that is not a viewset
        return True
    if view.action == "list":
        return True
    handler = getattr(view, view.action, None) if view.action else None
    return "filterset_class" in getattr(handler, "kwargs", {})


class ListFilterBackend(django_filters.DjangoFilterBackend):
    """The view's FilterSet, on lists only: retrieve, update, delete and actions look their object up
    unfiltered, as a list's parameters must not hide it. A FilterSet filters rows of its own model,
    so the trigger a `logs` action looks up is not filtered by the logs' parameters."""

    def get_filterset_class(self, view, queryset=None):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is None or not _lists(view):
            return None
        if queryset is not None and not issubclass(queryset.model, filterset_class._meta.model):
            return None
        return filterset_class

    def to_html(self, request, queryset, view):
        # The browsable API passes the view's own queryset: a trigger's, on its logs page.
        filterset_class = self.get_filterset_class(view)
        if filterset_class is None:
            return None
        return super().to_html(request, filterset_class._meta.model._default_manager.none(), view)


class ListFilterSchema(DjangoFilterExtension):
    """drf-spectacular's django-filter parameters, read from the FilterSet's own model (a `logs`
    action's view is the trigger's), each saying that an empty value is allowed and does not filter."""

    target_class = ListFilterBackend
    priority = 1

    def get_schema_operation_parameters(self, auto_schema, *args, **kwargs):
        filterset_class = self.target.get_filterset_class(auto_schema.view)
        if filterset_class is None:
            return []
        model = filterset_class._meta.model
        parameters = []
        with add_trace_message(filterset_class):
            for name, filter_field in filterset_class.base_filters.items():
                for parameter in self.resolve_filter_field(auto_schema, model, filterset_class, name, filter_field):
                    if filter_field.label and "description" not in parameter:  # a schema override has none
                        parameter["description"] = filter_field.label
                    parameters.append({**parameter, "allowEmptyValue": True})
        return parameters


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with the primary key appended, so pages never repeat or skip rows on ties."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering.append("id")
        return ordering


# --- Values ---------------------------------------------------------------------------------------

_ID = re.compile(r"[0-9]{1,18}")
# The OpenAPI schema of a query parameter read by query_id.
QUERY_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}


def query_id(value: str) -> int | None:
    """A positive database id from a query parameter, or None when it is not one."""
    return int(value) if _ID.fullmatch(value) and int(value) > 0 else None


class QueryIdField(forms.Field):
    """A positive database id, digits only (`error_messages={"invalid": …}` says whose id)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        pk = query_id(str(value))
        if pk is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return pk


class InstantField(forms.Field):
    """An ISO 8601 time with an offset, in the bounds of what is stored (eventsys.api.bounds), in UTC."""

    default_error_messages = {"invalid": TIME_MESSAGE}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            when = parse_datetime(str(value))
        except ValueError:  # well formed, but no such time (month 13)
            when = None
        if when is None or when.tzinfo is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        problem = instant_error(when)  # 9999-12-31T23:59:59-14:00 is past what Python can hold in UTC
        if problem:
            raise forms.ValidationError(problem, code="out_of_range")
        return when.astimezone(UTC)


class LowercaseChoiceField(django_filters.ChoiceFilter.field_class):
    def to_python(self, value):
        return super().to_python(value).lower()


class LowercaseCharField(forms.CharField):
    def to_python(self, value):
        return super().to_python(value).lower()


# --- Filters --------------------------------------------------------------------------------------


@extend_schema_field(QUERY_ID_SCHEMA)
class IdFilter(django_filters.Filter):
    """Rows whose `field_name` is this id."""

    field_class = QueryIdField


class InstantFilter(django_filters.IsoDateTimeFilter):
    """A bounded ISO 8601 time with an offset (`lookup_expr="gte"` for since, `"lt"` for until)."""

    field_class = InstantField


class LowercaseChoiceFilter(django_filters.ChoiceFilter):
    """A choice read case-insensitively (the original service spelt statuses in capitals)."""

    field_class = LowercaseChoiceField


class LowercaseFilter(django_filters.CharFilter):
    """Exact text, compared trimmed and in lower case (coin ids)."""

    field_class = LowercaseCharField


def choice_filter(field_name: str, values, *, filter_class=django_filters.ChoiceFilter, **kwargs):
    """One of `values` (a 400 saying which otherwise)."""
    kwargs.setdefault("error_messages", {"invalid_choice": one_of(values)})
    return filter_class(field_name=field_name, choices=[(value, value) for value in values], **kwargs)


def time_range_filters(field_name: str, *, since: str, until: str) -> tuple[InstantFilter, InstantFilter]:
    """`?since=` (inclusive) and `?until=` (exclusive) on `field_name`."""
    return (
        InstantFilter(field_name=field_name, lookup_expr="gte", label=since),
        InstantFilter(field_name=field_name, lookup_expr="lt", label=until),
    )
