from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

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
    actions = ["redeliver"]

    def has_add_permission(self, request):
        return False

    # Logs are read-only here (the form); acting on them needs the model's change permission all the same.
    def has_change_permission(self, request, obj=None):
        return False

    def has_redeliver_permission(self, request, obj=None):
        return request.user.has_perm("triggers.change_executionlog")

    @admin.action(description="Re-deliver selected", permissions=["redeliver"])
    def redeliver(self, request, queryset):
        """Re-deliver each log; a refusal (pending, nothing to deliver) is reported on its row, not raised."""
        done = 0
        for log in queryset:
            if self._redeliver_one(request, log):
                done += 1
        self.message_user(request, f"Re-delivered {done} log(s).", messages.SUCCESS)

    def _redeliver_one(self, request, log: ExecutionLog) -> bool:
        try:
            services.execution_log_redeliver(log=log)
        except DomainError as exc:
            self.message_user(request, f"{log}: {exc.detail}", messages.WARNING)
            return False
        return True

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.redeliver_view))
        return [
            path("<path:object_id>/redeliver/", view, name="triggers_executionlog_redeliver"),
            *super().get_urls(),
        ]

    def redeliver_view(self, request, object_id):
        """The change page's Re-deliver button (a POST; admin_view checks staff and CSRF)."""
        log = self.get_object(request, unquote(object_id))
        if log is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_redeliver_permission(request, log):
            raise PermissionDenied
        if self._redeliver_one(request, log):
            self.message_user(request, f"{log}: re-delivery enqueued.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:triggers_executionlog_change", args=[log.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        log = self.get_object(request, unquote(object_id))
        redeliverable = (
            log is not None
            and log.status in (ExecutionLog.DeliveryStatus.DELIVERED, ExecutionLog.DeliveryStatus.FAILED)
            and log.source != ExecutionLog.Source.TEST
            and self.has_redeliver_permission(request, log)
        )
        extra_context = {**(extra_context or {}), "can_redeliver": redeliverable}
        return super().change_view(request, object_id, form_url, extra_context)
