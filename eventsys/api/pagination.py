from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=`; a larger page size than API_MAX_PAGE_SIZE is capped to it."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read per request, so a changed setting applies
        return settings.API_MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """Opaque `?cursor=` pages, newest first, for tables too large to count; `?page_size=` capped too."""

    ordering = "-id"
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:
        return settings.API_MAX_PAGE_SIZE
