from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import DurationField, ExpressionWrapper, F, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from eventsys.admin_time import in_zone, time_column, zone_or_utc
from eventsys.api.errors import DomainError
from eventsys.ops.admin_buttons import ObjectButtonsMixin
from eventsys.ops.csv_export import csv_export_action
from triggers import services
from triggers.models import DeliveryAttempt, ExecutionLog, Trigger


class FailingFilter(admin.SimpleListFilter):
    """Webhook triggers whose latest deliveries failed (consecutive_failures > 0)."""

    title = "deliveries"
    parameter_name = "deliveries"

    def lookups(self, request, model_admin):
        return [("failing", "Failing"), ("healthy", "Not failing")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(consecutive_failures__gt=0)
        if self.value() == "healthy":
            return queryset.filter(consecutive_failures=0)
        return queryset


# The latest finished delivery of a trigger: its outcome, for the list (one subquery, any page size).
_LAST_DELIVERY = (
    ExecutionLog.objects.filter(
        trigger=OuterRef("pk"),
        status__in=[ExecutionLog.DeliveryStatus.DELIVERED, ExecutionLog.DeliveryStatus.FAILED],
    )
    .order_by("-created_at", "-id")
    .values("status")[:1]
)
# How late its latest scheduled firing was logged after its slot.
_LAST_LATENESS = (
    ExecutionLog.objects.filter(trigger=OuterRef("pk"), source=ExecutionLog.Source.SCHEDULE)
    .order_by("-created_at", "-id")
    .annotate(lateness=ExpressionWrapper(F("created_at") - F("scheduled_for"), output_field=DurationField()))
    .values("lateness")[:1]
)
# Of its last RECENT finished deliveries, how many (and how many delivered): a scalar subquery over the
# (trigger, -created_at, -id) index per row shown, on PostgreSQL and SQLite alike. The ORM cannot
# aggregate over a LIMIT, hence SQL; the outer table is the changelist's own, never aliased.
RECENT = 20
_RECENT_FINISHED = """(SELECT {count} FROM (SELECT status FROM triggers_executionlog AS recent
    WHERE recent.trigger_id = triggers_trigger.id AND recent.status IN ('delivered', 'failed')
    ORDER BY recent.created_at DESC, recent.id DESC LIMIT %s) AS last_finished)"""


@admin.register(Trigger)
class TriggerAdmin(ObjectButtonsMixin, admin.ModelAdmin):
    # Columns sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py);
    # times in the trigger's own zone, labelled.
    list_display = [
        "name",
        "owner",
        "what",
        "state",
        time_column("next_run_at", "next run", zone_field="timezone"),
        "last_run",
        "deliveries",
        "failures",
    ]
    list_filter = [FailingFilter, "alert_state", "kind", "status", "schedule_type"]
    search_fields = ["name", "owner__username", "api_endpoint"]
    list_select_related = ["owner"]
    exclude = ["signing_secret"]
    actions = ["fire_now", "test_run", "pause", "resume", "rotate_secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # A test run waits for the receiver's answer: a list action tests a handful, not a page.
    test_run_limit = 10

    # Triggers are created and edited through the API, where every rule is validated with field
    # errors; operators inspect them here and act on them with the actions.
    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_delivery_status=Subquery(_LAST_DELIVERY),
                last_lateness=Subquery(_LAST_LATENESS, output_field=DurationField()),
                recent_finished=RawSQL(_RECENT_FINISHED.format(count="count(*)"), [RECENT]),
                recent_delivered=RawSQL(
                    _RECENT_FINISHED.format(count="count(CASE WHEN last_finished.status = 'delivered' THEN 1 END)"),
                    [RECENT],
                ),
            )
        )

    @admin.display(description="kind", ordering="kind")
    def what(self, trigger) -> str:
        return f"{trigger.kind}, {trigger.schedule_type}"

    @admin.display(description="status", ordering="status")
    def state(self, trigger):
        """Its status, and under it a late or failing alert state (what its owner was last told)."""
        if trigger.alert_state == Trigger.AlertState.OK:
            return trigger.status
        return format_html("{}<br><small>{}</small>", trigger.status, trigger.alert_state)

    @admin.display(description="failing", ordering="consecutive_failures")
    def failures(self, trigger) -> int:
        return trigger.consecutive_failures

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, trigger):
        """When it last fired, in its zone, and how late its latest scheduled firing was."""
        if trigger.last_run_at is None:
            return None
        date, time = in_zone(trigger.last_run_at, trigger.timezone).split(" ", 1)
        late = trigger.last_lateness
        lateness = f"{max(late.total_seconds(), 0):.1f} s late" if late is not None else "by hand"
        return format_html(
            '<span class="nowrap">{}</span> <span class="nowrap">{}</span><br><small>{}</small>', date, time, lateness
        )

    @admin.display(description="deliveries", ordering="last_delivery_status")
    def deliveries(self, trigger):
        """The last delivery's outcome, and the success rate of the last RECENT."""
        if trigger.kind != Trigger.Kind.API:
            return "no delivery"
        if not trigger.recent_finished:
            return "none yet"
        rate = f"{trigger.recent_delivered} of the last {trigger.recent_finished} ok"
        return format_html("{}<br><small>{}</small>", trigger.last_delivery_status, rate)

    def get_readonly_fields(self, request, obj=None):
        fields = [field.name for field in Trigger._meta.fields if field.name != "signing_secret"]
        return [*fields, "upcoming_runs", "latest_executions"]

    @admin.display(description="next five runs")
    def upcoming_runs(self, trigger) -> str:
        runs = services.trigger_upcoming(trigger, 5)
        return ", ".join(in_zone(run, trigger.timezone) for run in runs) or "none (not active)"

    @admin.display(description="latest executions")
    def latest_executions(self, trigger):
        logs = trigger.logs.order_by("-created_at", "-id")[:5]
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {} ({})</li>',
            (
                (
                    reverse("admin:triggers_executionlog_change", args=[log.pk]),
                    in_zone(log.scheduled_for, trigger.timezone),
                    log.get_status_display(),
                    log.source,
                )
                for log in logs
            ),
        )
        everything = reverse("admin:triggers_executionlog_changelist") + f"?trigger__id__exact={trigger.pk}"
        return format_html(
            '<ul style="margin: 0; padding-left: 1em">{}</ul><a href="{}">All executions</a>',
            rows or "none yet",
            everything,
        )

    object_buttons = [
        ("fire_now", "Fire now", "Fire once now, besides the schedule"),
        ("test_run", "Test", "Send one test request now and show the answer (logged as a test, never retried)"),
        ("pause", "Pause", "Stop firing until resumed"),
        ("resume", "Resume", "Fire again from the next slot"),
        ("rotate_secret", "Rotate secret", "Replace the signing secret; the new one is shown once"),
    ]

    def object_buttons_for(self, obj):
        """A trigger that posts no webhook signs nothing: no secret to rotate."""
        if obj.kind == Trigger.Kind.API:
            return self.object_buttons
        return [button for button in self.object_buttons if button[0] != "rotate_secret"]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Every field is read-only: a Save button would only claim a change that cannot happen.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
        }
        # The page's times read in the trigger's own zone, labelled (eventsys/formats).
        trigger = self.get_object(request, unquote(object_id))
        with timezone.override(zone_or_utc(trigger.timezone if trigger else None)):
            response = super().change_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # a TemplateResponse renders later, outside the zone, unless told now
        return response

    @admin.action(description="Fire now")
    def fire_now(self, request, queryset):
        self._apply(request, queryset, services.trigger_fire, "Fired")

    @admin.action(description="Test (send once now and show the answer)", permissions=["change"])
    def test_run(self, request, queryset):
        if queryset.count() > self.test_run_limit:
            limit = f"Test at most {self.test_run_limit} triggers at a time: each waits for its answer."
            self.message_user(request, limit, messages.WARNING)
            return
        for trigger in queryset:
            log = services.trigger_test(trigger=trigger)
            self.message_user(request, f"{trigger}: {_test_answer(log)}", _test_level(log))

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for trigger in queryset:
            secret = services.trigger_rotate_secret(trigger=trigger)
            self.message_user(
                request,
                f"{trigger}: the new signing secret is {secret} (shown once; give it to the receiver).",
                messages.SUCCESS,
            )

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


def _test_answer(log: ExecutionLog) -> str:
    """What a test run answered, in words: the outcome, the status, the time and the start of the body."""
    if log.status == ExecutionLog.DeliveryStatus.NONE:
        return "test logged (a scheduled trigger has nothing to deliver)"
    status = f"HTTP {log.response_status}" if log.response_status else "no answer"
    answer = f"test {log.get_status_display().lower()}: {status} in {log.latency_ms} ms"
    if log.error:
        answer += f"; {log.error}"
    if log.response_excerpt:
        answer += f"; the body began: {log.response_excerpt[:200]}"
    return answer


def _test_level(log: ExecutionLog) -> int:
    return messages.WARNING if log.status == ExecutionLog.DeliveryStatus.FAILED else messages.SUCCESS


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = [
        "number",
        "started_at",
        "outcome",
        "response_status",
        "latency_ms",
        "error",
        "response_excerpt",
        "sent_headers",
        "received_headers",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="request headers")
    def sent_headers(self, attempt: DeliveryAttempt):
        return self._header_lines(attempt.request_headers)

    @admin.display(description="response headers")
    def received_headers(self, attempt: DeliveryAttempt):
        return self._header_lines(attempt.response_headers)

    def _header_lines(self, headers: list[list[str]]):
        """One "Name: value" line per header, escaped: the receiver chooses what its headers say."""
        if not headers:
            return self.get_empty_value_display()
        return format_html(
            '<pre style="white-space: pre-wrap; overflow-wrap: anywhere; max-width: 30em; margin: 0">{}</pre>',
            format_html_join("\n", "{}: {}", headers),
        )


@admin.register(ExecutionLog)
class ExecutionLogAdmin(admin.ModelAdmin):
    # Columns sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py).
    list_display = [
        "trigger_link",
        "owner",
        "source",
        time_column("scheduled_for", "scheduled for"),
        "delivery",
        "tries",
        "http_status",
        "latency",
        "lateness",
    ]
    list_filter = [
        "state",
        "status",
        "source",
        ("trigger", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["trigger__name", "delivery_id"]
    list_select_related = ["trigger", "owner"]
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    readonly_fields = ["logged_lateness", "delivery_lateness"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # Django 6.0's default, read-only here
    actions = ["redeliver", "export_csv"]

    export_csv = csv_export_action(
        [
            ("trigger id", "trigger_id"),
            ("trigger name", "trigger.name"),
            ("owner", "owner.username"),
            ("source", "source"),
            ("scheduled for", "scheduled_for"),
            ("created at", "created_at"),
            ("status", "status"),
            ("state", "state"),
            ("attempts", "attempts"),
            ("response status", "response_status"),
            ("latency ms", "latency_ms"),
            ("delivery id", "delivery_id"),
            ("error", "error"),
        ],
        "execution-logs.csv",
        "Export selected logs (CSV)",
        rows=lambda logs: logs.select_related("trigger", "owner"),
    )

    def has_add_permission(self, request):
        return False

    # Logs are read-only here (the form); acting on them needs the model's change permission all the same.
    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="trigger", ordering="trigger__name")
    def trigger_link(self, log):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:triggers_trigger_change", args=[log.trigger_id]), log.trigger
        )

    @admin.display(description="tries", ordering="attempts")
    def tries(self, log) -> int:
        return log.attempts

    @admin.display(description="HTTP", ordering="response_status")
    def http_status(self, log):
        return log.response_status

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, log) -> str:
        return "-" if log.latency_ms is None else f"{log.latency_ms} ms"

    @admin.display(description="delivery", ordering="status")
    def delivery(self, log) -> str:
        return log.get_status_display()

    @admin.display(description="late by")
    def lateness(self, log):
        """From the slot to the log and, once delivered, to the delivery (manual and test firings are never
        late)."""
        if log.source != ExecutionLog.Source.SCHEDULE:
            return "-"
        logged = f"{max((log.created_at - log.scheduled_for).total_seconds(), 0):.1f} s"
        if log.status != ExecutionLog.DeliveryStatus.DELIVERED or log.completed_at is None:
            return logged
        delivered = f"{max((log.completed_at - log.scheduled_for).total_seconds(), 0):.1f} s"
        return format_html("{}<br><small>delivered {}</small>", logged, delivered)

    @admin.display(description="logged lateness")
    def logged_lateness(self, log) -> str:
        """created_at - scheduled_for: the three instants are scheduled for (due), created at (logged) and
        completed at (delivered, when the status says so)."""
        return f"{max((log.created_at - log.scheduled_for).total_seconds(), 0):.3f} s after the slot was due"

    @admin.display(description="delivery lateness")
    def delivery_lateness(self, log) -> str:
        if log.status != ExecutionLog.DeliveryStatus.DELIVERED or log.completed_at is None:
            return "not delivered"
        return f"{max((log.completed_at - log.scheduled_for).total_seconds(), 0):.3f} s after the slot was due"

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
