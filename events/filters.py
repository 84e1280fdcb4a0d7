"""The FilterSets of the event lists: /events/, /events/{id}/attendees/ and /ingested-events/."""

from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as django_filters

from events import services
from events.models import Attendee, Event, IngestedEvent
from eventsys.api.filters import choice_filter, time_range_filters

WHEN = ["upcoming", "past", "all"]


class EventFilterSet(django_filters.FilterSet):
    when = choice_filter("end_time", WHEN, method="filter_when", help_text="Default: upcoming")

    class Meta:
        model = Event
        fields = []

    def filter_queryset(self, queryset):
        # `when` has a default, which django-filter (it skips empty values) would not apply.
        self.form.cleaned_data["when"] = self.form.cleaned_data.get("when") or "upcoming"
        return super().filter_queryset(queryset)

    def filter_when(self, queryset: QuerySet[Event], name: str, value: str) -> QuerySet[Event]:
        if value == "upcoming":
            return services.events_upcoming(queryset, now=timezone.now())
        if value == "past":
            return queryset.filter(end_time__lt=timezone.now())
        return queryset


class AttendeeFilterSet(django_filters.FilterSet):
    status = choice_filter("status", Attendee.Status.values)

    class Meta:
        model = Attendee
        fields = []


class IngestedEventFilterSet(django_filters.FilterSet):
    event_type = django_filters.CharFilter(field_name="event_type", strip=False)
    since, until = time_range_filters("received_at", since="received at or after", until="received before")

    class Meta:
        model = IngestedEvent
        fields = []
