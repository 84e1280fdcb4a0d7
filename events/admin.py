from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from events import services
from events.models import Attendee, Event, IngestedEvent
from eventsys.admin_time import in_zone, time_column, zone_or_none, zone_or_utc
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


def _breakable(text: str, separator: str):
    """`text` with a line-break opportunity after each `separator` (for long unbreakable values)."""
    parts = text.split(separator)
    pieces = [format_html("{}{}<wbr>", part, separator) for part in parts[:-1]]
    return format_html("{}" * len(parts), *pieces, parts[-1])


class EventAdminForm(forms.ModelForm):
    def clean_timezone(self) -> str:
        value = self.cleaned_data["timezone"]
        if zone_or_none(value) is None:
            raise forms.ValidationError("Enter an IANA time zone such as Asia/Kolkata or Europe/London.")
        return value


@admin.register(Event)
class EventAdmin(ObjectButtonsMixin, admin.ModelAdmin):
    form = EventAdminForm
    # Columns sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py).
    list_display = [
        "name",
        "organiser",
        time_column("start_time", "starts", zone_field="timezone"),
        time_column("end_time", "ends", zone_field="timezone"),
        "zone",
        "seats",
        "waitlist",
    ]
    list_filter = ["timezone", "start_time"]
    search_fields = ["name", "location", "organiser__username"]
    list_select_related = ["organiser"]
    date_hierarchy = "start_time"
    readonly_fields = ["seats_taken", "waitlist_length", "uid", "sequence", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["organiser", "name", "location", "description", "max_capacity"]}),
        ("When", {"fields": ["start_time", "end_time", "timezone"]}),
        ("Bookkeeping", {"fields": ["seats_taken", "waitlist_length", "uid", "sequence", "created_at", "updated_at"]}),
    ]
    raw_id_fields = ["organiser"]
    inlines = [AttendeeInline]
    actions = ["export_attendees_csv"]
    object_buttons = [("export_attendees_csv", "Export attendees (CSV)", "Every attendee of this event, as a CSV file")]

    @admin.display(description="zone", ordering="timezone")
    def zone(self, event):
        return _breakable(event.timezone, "/")  # America/Argentina/Buenos_Aires may break after a slash

    @admin.display(description="seats taken", ordering="seats_taken")
    def seats(self, event) -> str:
        return f"{event.seats_taken} / {event.max_capacity}"

    @admin.display(description="waitlist", ordering="waitlist_length")
    def waitlist(self, event) -> int:
        return event.waitlist_length

    # The change form shows and reads its times in one zone, activated around the whole view (the
    # form is rendered inside it too): the zone posted in the same form when it is a valid zone, so
    # "19:00" with "Asia/Kolkata" means 19:00 in Kolkata whatever the zone was before, as the API
    # reads naive times; otherwise the stored zone (UTC on the add page, the model's default). An
    # invalid posted zone is refused by the form, so times read in the fallback zone are never saved.
    def _form_zone_name(self, request, event: Event | None) -> str:
        posted = request.POST.get("timezone") if request.method == "POST" else None
        if zone_or_none(posted) is not None:
            return posted
        stored = event.timezone if event is not None else "UTC"
        return stored if zone_or_none(stored) is not None else "UTC"

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        event = self.get_object(request, unquote(object_id)) if object_id else None
        with timezone.override(zone_or_utc(self._form_zone_name(request, event))):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # a TemplateResponse renders later, outside the zone, unless told now
        return response

    def get_fieldsets(self, request, obj=None):
        zone_name = self._form_zone_name(request, obj)
        label = in_zone(obj.start_time if obj else timezone.now(), zone_name).rsplit(" ", 1)[1]
        where = zone_name if label == zone_name else f"{zone_name} ({label})"
        description = (
            f"Times are in {where}. Times entered are read in the time zone entered with them: "
            "change both together to move the event to another zone."
        )
        return [
            (name, {**options, "description": description} if name == "When" else options)
            for name, options in self.fieldsets
        ]

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
    list_display = ["name", "email", "event_link", "status", time_column("created_at", "registered")]
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

    @admin.display(description="event", ordering="event__name")
    def event_link(self, attendee):
        # Not the foreign key itself: the admin never wraps a foreign key's cell, and event names are long.
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:events_event_change", args=[attendee.event_id]), attendee.event
        )

    @admin.action(description="Cancel (frees the seat for the waiting list)")
    def cancel(self, request, queryset):
        for attendee in queryset:
            services.attendee_cancel(attendee=attendee)


@admin.register(IngestedEvent)
class IngestedEventAdmin(admin.ModelAdmin):
    # The token (its name and prefix) is on each event's page; the list keeps what fits 1366 px.
    list_display = [
        "id",
        "event_type",
        "owner",
        time_column("received_at", "received"),
        time_column("occurred_at", "occurred"),
        "future",
    ]
    list_filter = ["event_type", "occurred_at_in_future", "received_at"]
    search_fields = ["event_type", "idempotency_key", "owner__username"]
    list_select_related = ["owner", "token"]
    date_hierarchy = "received_at"
    show_full_result_count = False  # the table is large: no COUNT(*) on every page

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="future", boolean=True, ordering="occurred_at_in_future")
    def future(self, ingested) -> bool:
        return ingested.occurred_at_in_future
