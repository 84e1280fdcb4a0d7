from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, SolarSchedule
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from eventsys.admin_time import time_column
from eventsys.ops.models import Heartbeat, IdempotentRequest

# The admin is the operator's console: it says whose it is once, here.
admin.site.site_header = "eventsys administration"
admin.site.site_title = "eventsys admin"

# Models no operator edits: beat's solar and clocked schedules (the system schedule uses intervals and
# crontabs) and simplejwt's token bookkeeping (logout and password changes write it). Autodiscovery
# imports admin modules in INSTALLED_APPS order and eventsys.ops comes after both apps, so they are
# registered by now; the check keeps this harmless if an upgrade stops registering one of them.
for _model in (SolarSchedule, ClockedSchedule, OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["component", "seen_at"]
    readonly_fields = ["component", "seen_at"]

    def has_add_permission(self, request):
        return False


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(admin.ModelAdmin):
    """Creates sent with an Idempotency-Key, kept IDEMPOTENCY_KEY_HOURS: what a resend would be answered."""

    # Sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py).
    list_display = ["route", "key", "state", "http_status", time_column("created_at", "first sent")]
    list_filter = ["state"]  # not by route: one per event's registration path, without end
    search_fields = ["key", "scope", "route"]
    readonly_fields = [
        "scope",
        "key",
        "route",
        "request_hash",
        "state",
        "response_status",
        "created_at",
    ]
    # The kept answer holds a new trigger's signing secret, which the trigger admin does not show either.
    exclude = ["response_body"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="HTTP", ordering="response_status")
    def http_status(self, record):
        return record.response_status
