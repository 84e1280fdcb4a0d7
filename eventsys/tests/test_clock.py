from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from eventsys.clock import read_database_clock


@pytest.mark.django_db
def test_the_database_clock_is_the_servers_not_the_processes():
    with time_machine.travel(datetime(2001, 1, 1, tzinfo=UTC), tick=False):
        # Frozen process time does not move the database server's clock.
        now = read_database_clock()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert now.year > 2001
