from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from eventsys.api.errors import DomainError
from triggers import services
from triggers.models import DeliveryAttempt, ExecutionLog, Trigger


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "kind", "status", "schedule_type", "next_run_at", "last_run_at", "run_count"]
    list_filter = ["kind", "status", "schedule_type"]
    search_fields = ["name", "owner__username", "api_endpoint"]
    list_select_related = ["owner"]
    exclude = ["signing_secret"]
    actions = ["fire_now", "pause", "resume"]

    # Triggers are created and edited through the API, where every rule is validated with field
    # errors; operators inspect them here and act on them with the actions.
    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Trigger._meta.fields if field.name != "signing_secret"]

    @admin.action(description="Fire now")
    def fire_now(self, request, queryset):
        self._apply(request, queryset, services.trigger_fire, "Fired")

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        self._apply(request, queryset, services.trigger_pause, "Paused")

    @admin.action(description="Resume")
    def resume(self, request, queryset):
        self._apply(request, queryset, services.trigger_resume, "Resumed")

    def _apply(self, request, queryset, action, verb: str) -> None:
        """Run a service per trigger; a refusal is reported on its row, not raised as a 500."""
        done = 0
        for trigger in queryset:
            try:
                action(trigger=trigger)
                done += 1
            except (ValidationError, DomainError) as exc:
                detail = "; ".join(getattr(exc, "messages", None) or [str(getattr(exc, "detail", exc))])
                self.message_user(request, f"{trigger}: {detail}", messages.WARNING)
        self.message_user(request, f"{verb} {done} trigger(s).", messages.SUCCESS)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "outcome", "response_status", "latency_ms", "error", "response_excerpt"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExecutionLog)
class ExecutionLogAdmin(admin.ModelAdmin):
    list_display = [
        "trigger",
        "source",
        "scheduled_for",
        "status",
        "state",
        "attempts",
        "response_status",
        "created_at",
    ]
    list_filter = ["state", "status", "source"]
    search_fields = ["trigger__name", "delivery_id"]
    list_select_related = ["trigger"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
