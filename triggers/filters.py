"""The FilterSets of the trigger lists: /triggers/, /event-logs/ and /triggers/{id}/logs/."""

from django_filters import rest_framework as django_filters

from eventsys.api.filters import IdFilter, choice_filter, time_range_filters
from triggers.models import ExecutionLog, Trigger


class TriggerFilterSet(django_filters.FilterSet):
    status = choice_filter("status", Trigger.Status.values)
    trigger_type = choice_filter("kind", Trigger.Kind.values, label="Trigger type")
    alert_state = choice_filter("alert_state", Trigger.AlertState.values, label="Alert state (ok, late, failing)")

    class Meta:
        model = Trigger
        fields = []


class TriggerLogFilterSet(django_filters.FilterSet):
    """A trigger's own logs (`/triggers/{id}/logs/`)."""

    state = choice_filter("state", ExecutionLog.State.values)
    source = choice_filter("source", ExecutionLog.Source.values)
    status = choice_filter("status", ExecutionLog.DeliveryStatus.values, label="Delivery status")
    since, until = time_range_filters("created_at", since="created at or after", until="created before")

    class Meta:
        model = ExecutionLog
        fields = []


class ExecutionLogFilterSet(TriggerLogFilterSet):
    """The logs of all your triggers (`/event-logs/`)."""

    trigger = IdFilter(field_name="trigger_id", label="Trigger id", error_messages={"invalid": "Must be a trigger id."})

    class Meta(TriggerLogFilterSet.Meta):
        fields = []
