from django.contrib import admin

from eventsys.ops.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["component", "seen_at"]
    readonly_fields = ["component", "seen_at"]

    def has_add_permission(self, request):
        return False
