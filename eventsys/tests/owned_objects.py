"""Objects of each kind a user owns, for tests that walk every route (the schema fuzz, the FilterSets)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.models import Coin
from events.models import Event
from events.services import event_create
from triggers.models import Trigger
from triggers.services import trigger_create, trigger_fire


@dataclass
class Owned:
    trigger: Trigger  # an interval trigger, fired once by hand (so it has one execution log)
    event: Event  # in ten days, in Asia/Kolkata, 50 seats


def owned_objects(owner, *, now: datetime) -> Owned:
    """A fired trigger and an event of `owner`'s, and bitcoin in the coin catalogue."""
    trigger = trigger_create(
        owner=owner,
        name="every 5 minutes",
        kind="scheduled",
        schedule_type="interval",
        schedule_time=now + timedelta(minutes=1),
        interval=5,
    )
    trigger_fire(trigger=trigger)
    event = event_create(
        organiser=owner,
        name="PyCon Pune",
        location="Pune",
        start_time=now + timedelta(days=10),
        end_time=now + timedelta(days=10, hours=8),
        timezone="Asia/Kolkata",
        max_capacity=50,
    )
    Coin.objects.create(id="bitcoin", symbol="btc", name="Bitcoin", market_cap_rank=1, refreshed_at=now)
    return Owned(trigger=trigger, event=event)
