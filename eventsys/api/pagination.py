"""Pagination: numbered pages for most lists, cursors for the largest tables.

A malformed `?page=` or `?page_size=` is a 400 naming it (DRF would ignore a bad page size and serve the
default one); a page number past the last page is a 404, as in DRF.
"""

import re

from django.conf import settings
from rest_framework import exceptions, pagination

_DIGITS = re.compile(r"[0-9]+")


def _page_size(paginator, request) -> int:
    """`?page_size=`: a positive integer (a larger one is capped to API_MAX_PAGE_SIZE)."""
    value = request.query_params.get(paginator.page_size_query_param)
    if value is None:
        return paginator.page_size
    if not _DIGITS.fullmatch(value) or int(value) == 0:
        raise exceptions.ValidationError({paginator.page_size_query_param: ["Must be a positive integer."]})
    return min(int(value), paginator.max_page_size)


def _page_size_parameter(paginator) -> dict:
    return {
        "name": paginator.page_size_query_param,
        "required": False,
        "in": "query",
        "description": f"Results per page (default {paginator.page_size}; above API_MAX_PAGE_SIZE, capped to it).",
        "schema": {"type": "integer", "minimum": 1},
    }


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=`; a larger page size than API_MAX_PAGE_SIZE is capped to it."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read per request, so a changed setting applies
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _page_size(self, request)

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)  # "last" is already the last page's number
        if not _DIGITS.fullmatch(str(number)):
            raise exceptions.ValidationError({self.page_query_param: ["Must be a page number (1, 2, …)."]})
        return number

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "A page number, from 1; a page past the last one is a 404.",
                "schema": {"type": "integer", "minimum": 1},
            },
            _page_size_parameter(self),
        ]


class CursorPagination(pagination.CursorPagination):
    """Opaque `?cursor=` pages, newest first, for tables too large to count; `?page_size=` capped too."""

    ordering = "-id"
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _page_size(self, request)

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The opaque cursor of a `next` or `previous` link; a malformed one is a 404.",
                "schema": {"type": "string"},
            },
            _page_size_parameter(self),
        ]
