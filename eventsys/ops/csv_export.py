"""CSV export of a queryset as a streaming response, and the admin action built from it.

The rows are written as the client reads them, from `.iterator()`: memory stays bounded whatever
the row count. Columns are (header, accessor) pairs; an accessor is a dotted attribute path
("event.name") or a function of the row.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

Accessor = str | Callable[[Any], Any]
Column = tuple[str, Accessor]

CHUNK_SIZE = 2000
# Spreadsheets run a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose write() returns the line: the csv writer formats, the response streams."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """One value as CSV text: times in ISO 8601 UTC, decimals exact, text defused against formulas."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent, never through float
    if isinstance(value, bool | int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def _value(row: Model, accessor: Accessor) -> Any:
    if callable(accessor):
        return accessor(row)
    value: Any = row
    for name in accessor.split("."):
        if value is None:
            return None
        value = getattr(value, name)
    return value


def _lines(queryset: QuerySet, columns: Sequence[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow([header for header, _ in columns])
    for row in queryset.iterator(chunk_size=CHUNK_SIZE):
        yield writer.writerow([csv_cell(_value(row, accessor)) for _, accessor in columns])


def csv_response(queryset: QuerySet, columns: Sequence[Column], filename: str) -> StreamingHttpResponse:
    """Stream `queryset` as a CSV attachment. Related objects the columns read must be select_related,
    or each row costs a query."""
    response = StreamingHttpResponse(_lines(queryset, columns), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def csv_export_action(
    columns: Iterable[Column],
    filename: str,
    description: str = "Export selected (CSV)",
    *,
    rows: Callable[[QuerySet], QuerySet] | None = None,
):
    """An admin action exporting the selected objects; `rows` turns the selection into the queryset
    to export (select_related, annotations, or another model's rows)."""
    columns = list(columns)

    @admin.action(description=description, permissions=["view"])
    def export_csv(modeladmin, request, queryset):
        return csv_response(rows(queryset) if rows else queryset, columns, filename)

    return export_csv
