from django.contrib import admin, messages

from alerts.models import AlertRule, Coin, PriceAlert, PriceTick, ProviderState, Transaction, TransactionAlert
from alerts.services import price_alerts
from eventsys.ops.admin_buttons import ObjectButtonsMixin
from eventsys.ops.csv_export import csv_export_action


@admin.register(PriceAlert)
class PriceAlertAdmin(ObjectButtonsMixin, admin.ModelAdmin):
    list_display = ["coin", "currency", "direction", "target_price", "status", "owner", "triggered_at", "trigger_count"]
    list_filter = ["status", "direction", "currency", "repeat"]
    search_fields = ["coin", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]
    readonly_fields = [
        "triggered_at",
        "triggered_price",
        "price_before",
        "price_time",
        "trigger_count",
        "notified_at",
        "rearm_price",
    ]
    actions = ["rearm", "export_csv"]
    object_buttons = [("rearm", "Re-arm", "Watch the price again from now on")]

    export_csv = csv_export_action(
        [
            ("owner", "owner.username"),
            ("coin", "coin"),
            ("currency", "currency"),
            ("direction", "direction"),
            ("target price", "target_price"),
            ("status", "status"),
            ("created at", "created_at"),
            ("triggered at", "triggered_at"),
            ("triggered price", "triggered_price"),
        ],
        "price-alerts.csv",
        "Export selected price alerts (CSV)",
        rows=lambda alerts: alerts.select_related("owner"),
    )

    def has_add_permission(self, request):
        return False  # alerts are created through the API, where coins are resolved and validated

    @admin.action(description="Re-arm (make triggered alerts live again)")
    def rearm(self, request, queryset):
        for alert in queryset.filter(status=PriceAlert.Status.TRIGGERED):
            price_alerts.price_alert_rearm(alert=alert)
        self.message_user(request, "Re-armed the triggered alerts among those selected.", messages.SUCCESS)


@admin.register(PriceTick)
class PriceTickAdmin(admin.ModelAdmin):
    list_display = ["coin", "currency", "price", "source_updated_at", "fetched_at"]
    list_filter = ["currency"]
    search_fields = ["coin"]
    date_hierarchy = "fetched_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ProviderState)
class ProviderStateAdmin(admin.ModelAdmin):
    list_display = ["name", "last_success_at", "consecutive_failures", "backoff_until", "last_error"]


@admin.register(Coin)
class CoinAdmin(admin.ModelAdmin):
    list_display = ["id", "symbol", "name", "market_cap_rank", "refreshed_at"]
    search_fields = ["id", "symbol", "name"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "transaction_type", "threshold", "count", "window_seconds", "priority", "enabled"]
    list_editable = ["enabled", "priority"]
    list_filter = ["kind", "transaction_type", "enabled"]


class EvidenceInline(admin.TabularInline):
    model = TransactionAlert.evidence.through
    extra = 0
    can_delete = False
    verbose_name_plural = "evidence"


@admin.register(TransactionAlert)
class TransactionAlertAdmin(admin.ModelAdmin):
    list_display = ["code", "customer", "transaction", "owner", "created_at"]
    list_filter = ["code"]
    list_select_related = ["customer", "transaction", "owner"]
    readonly_fields = ["owner", "customer", "transaction", "rule", "code", "created_at"]
    exclude = ["evidence"]
    inlines = [EvidenceInline]

    def has_add_permission(self, request):
        return False


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["id", "customer", "type", "amount", "time", "owner", "created_at"]
    list_filter = ["type"]
    list_select_related = ["customer", "owner"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
