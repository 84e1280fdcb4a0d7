from django.contrib import admin
from django.db.models import Count, OuterRef, QuerySet, Subquery

from events import services
from events.models import Attendee, Event, IngestedEvent
from eventsys.ops.admin_buttons import ObjectButtonsMixin
from eventsys.ops.csv_export import csv_export_action


def _attendees_for_export(attendees: QuerySet[Attendee]) -> QuerySet[Attendee]:
    """The attendees with their event and their place on the waiting list, in one query."""
    ahead = (
        Attendee.objects.filter(event=OuterRef("event"), status=Attendee.Status.WAITLISTED, id__lte=OuterRef("id"))
        .order_by()
        .values("event")
        .annotate(n=Count("id"))
        .values("n")
    )
    return attendees.select_related("event").annotate(waitlist_position=Subquery(ahead))


ATTENDEE_CSV_COLUMNS = [
    ("event id", "event_id"),
    ("event name", "event.name"),
    ("name", "name"),
    ("email", "email"),
    ("status", "status"),
    ("waitlist position", lambda a: a.waitlist_position if a.status == Attendee.Status.WAITLISTED else None),
    ("registered at", "created_at"),
]


class AttendeeInline(admin.TabularInline):
    model = Attendee
    extra = 0
    fields = ["name", "email", "status", "created_at", "promoted_at", "cancelled_at"]
    readonly_fields = fields
    can_delete = False
    ordering = ["id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ObjectButtonsMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "organiser",
        "start_time",
        "end_time",
        "timezone",
        "seats_taken",
        "max_capacity",
        "waitlist_length",
    ]
    list_filter = ["timezone", "start_time"]
    search_fields = ["name", "location", "organiser__username"]
    list_select_related = ["organiser"]
    date_hierarchy = "start_time"
    readonly_fields = ["seats_taken", "waitlist_length", "uid", "sequence", "created_at", "updated_at"]
    raw_id_fields = ["organiser"]
    inlines = [AttendeeInline]
    actions = ["export_attendees_csv"]
    object_buttons = [("export_attendees_csv", "Export attendees (CSV)", "Every attendee of this event, as a CSV file")]

    export_attendees_csv = csv_export_action(
        ATTENDEE_CSV_COLUMNS,
        "attendees.csv",
        "Export attendees (CSV)",
        rows=lambda events: _attendees_for_export(
            Attendee.objects.filter(event__in=events.values("pk")).order_by("event_id", "id")
        ),
    )

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in services.EVENT_FIELDS if name in form.cleaned_data}
        if change:
            services.event_update(event=obj, **fields)
        else:
            obj.pk = services.event_create(organiser=form.cleaned_data["organiser"], **fields).pk


@admin.register(Attendee)
class AttendeeAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "event", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "email", "event__name"]
    list_select_related = ["event"]
    readonly_fields = [
        "event",
        "name",
        "email",
        "status",
        "created_at",
        "promoted_at",
        "promotion_emailed_at",
        "cancelled_at",
    ]
    exclude = ["cancel_token_hash"]
    actions = ["cancel", "export_csv"]

    export_csv = csv_export_action(
        ATTENDEE_CSV_COLUMNS, "attendees.csv", "Export selected attendees (CSV)", rows=_attendees_for_export
    )

    def has_add_permission(self, request):
        return False

    @admin.action(description="Cancel (frees the seat for the waiting list)")
    def cancel(self, request, queryset):
        for attendee in queryset:
            services.attendee_cancel(attendee=attendee)


@admin.register(IngestedEvent)
class IngestedEventAdmin(admin.ModelAdmin):
    list_display = ["id", "event_type", "owner", "token", "received_at", "occurred_at", "occurred_at_in_future"]
    list_filter = ["event_type", "occurred_at_in_future", "received_at"]
    search_fields = ["event_type", "idempotency_key", "owner__username"]
    list_select_related = ["owner", "token"]
    date_hierarchy = "received_at"
    show_full_result_count = False  # the table is large: no COUNT(*) on every page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
