"""The clock that decisions shared between processes are made by: the database server's.

App servers and workers may disagree about the time by seconds; the dispatcher, the delivery
claims and the schedule computations all read this one clock, so a skewed host can neither fire a
slot early nor re-arm one that already fired. Tests replace `database_now` with Django's
`timezone.now` so that frozen time (time-machine) applies; `read_database_clock` stays the real one.
"""

from datetime import UTC, datetime

from django.db import connection


def read_database_clock() -> datetime:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=UTC)


database_now = read_database_clock
