from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, SolarSchedule
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

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

    list_display = ["route", "key", "scope", "state", "response_status", "created_at"]
    list_filter = ["state", "route"]
    search_fields = ["key", "scope"]
    readonly_fields = [
        "scope",
        "key",
        "route",
        "request_hash",
        "state",
        "response_status",
        "response_body",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
