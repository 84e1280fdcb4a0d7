from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from alerts.models import (
    AlertRule,
    Coin,
    PriceAlert,
    PriceTick,
    ProviderState,
    Transaction,
    TransactionAlert,
    TransactionType,
)
from alerts.serializers import AlertRuleBacktestInSerializer
from alerts.services import backtest, price_alerts
from eventsys.admin_time import time_column
from eventsys.ops.admin_buttons import ObjectButtonsMixin
from eventsys.ops.csv_export import csv_export_action


@admin.register(PriceAlert)
class PriceAlertAdmin(ObjectButtonsMixin, admin.ModelAdmin):
    # Columns sized for a 1366-px screen beside the filters (eventsys/tests/test_browser_admin_width.py).
    list_display = ["coin", "target", "status", "owner", time_column("triggered_at", "triggered"), "times"]
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

    @admin.display(description="target", ordering="target_price")
    def target(self, alert) -> str:
        return f"{alert.direction} {_plain(alert.target_price)} {alert.currency}"

    @admin.display(description="times", ordering="trigger_count")
    def times(self, alert) -> int:
        return alert.trigger_count

    @admin.action(description="Re-arm (make triggered alerts live again)")
    def rearm(self, request, queryset):
        for alert in queryset.filter(status=PriceAlert.Status.TRIGGERED):
            price_alerts.price_alert_rearm(alert=alert)
        self.message_user(request, "Re-armed the triggered alerts among those selected.", messages.SUCCESS)


@admin.register(PriceTick)
class PriceTickAdmin(admin.ModelAdmin):
    list_display = [
        "coin",
        "price_in_currency",
        time_column("source_updated_at", "source updated"),
        time_column("fetched_at", "fetched"),
    ]
    list_filter = ["currency"]
    search_fields = ["coin"]
    date_hierarchy = "fetched_at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="price", ordering="price")
    def price_in_currency(self, tick) -> str:
        return f"{_plain(tick.price)} {tick.currency}"


@admin.register(ProviderState)
class ProviderStateAdmin(admin.ModelAdmin):
    list_display = ["name", "last_success_at", "consecutive_failures", "backoff_until", "last_error"]


@admin.register(Coin)
class CoinAdmin(admin.ModelAdmin):
    list_display = ["id", "symbol", "name", "market_cap_rank", "refreshed_at"]
    search_fields = ["id", "symbol", "name"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["code", "kind", "type", "threshold", "count", "window", "priority", "enabled"]
    list_editable = ["enabled", "priority"]
    list_filter = ["kind", "transaction_type", "enabled"]

    @admin.display(description="type", ordering="transaction_type")
    def type(self, rule) -> str:
        return rule.get_transaction_type_display()

    @admin.display(description="window", ordering="window_seconds")
    def window(self, rule) -> str | None:
        return None if rule.window_seconds is None else f"{rule.window_seconds} s"

    change_form_template = "admin/alerts/alertrule/change_form.html"  # adds the Backtest link

    def get_urls(self):
        view = self.admin_site.admin_view(self.backtest_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_backtest"
        return [path("<path:object_id>/backtest/", view, name=name), *super().get_urls()]

    def backtest_view(self, request, object_id):
        """The API's backtest as a page: a GET form (it stores nothing), validated by the API's serializer."""
        rule = self.get_object(request, unquote(object_id))
        if rule is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        given = {name: value for name, value in request.GET.items() if name != "run" and value.strip()}
        result, errors = None, {}
        if "run" in request.GET:
            data = QueryDict(mutable=True)
            data.update(given)  # form text: blank fields are left as the rule has them
            serializer = AlertRuleBacktestInSerializer(data=data, context={"rule": rule})
            if serializer.is_valid():
                changes = dict(serializer.validated_data)
                days = changes.pop("days")
                result = backtest.rule_backtest(rule=rule, changes=changes, days=days)
            else:
                errors = serializer.errors
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Backtest {rule}",
            "rule": rule,
            "form": given,
            "kinds": AlertRule.Kind.choices,
            "types": TransactionType.choices,
            "errors": errors,
            "result": result,
            "sides": [("as it is", result.current), ("changed", result.backtest)] if result else [],
        }
        return TemplateResponse(request, "admin/alerts/alertrule/backtest.html", context)


class EvidenceInline(admin.TabularInline):
    model = TransactionAlert.evidence.through
    extra = 0
    can_delete = False
    verbose_name_plural = "evidence"


@admin.register(TransactionAlert)
class TransactionAlertAdmin(admin.ModelAdmin):
    list_display = ["code", "customer_number", "transaction_link", "owner", time_column("created_at", "created")]
    list_filter = ["code"]
    list_select_related = ["customer", "owner"]
    readonly_fields = ["owner", "customer", "transaction", "rule", "code", "created_at"]
    exclude = ["evidence"]
    inlines = [EvidenceInline]

    def has_add_permission(self, request):
        return False

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_number(self, alert) -> int:
        return alert.customer.external_id

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, alert):
        url = reverse("admin:alerts_transaction_change", args=[alert.transaction_id])
        return format_html('<a href="{}">#{}</a>', url, alert.transaction_id)


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = ["id", "customer_number", "type", "amount", "time", "owner", time_column("created_at", "created")]
    list_filter = ["type"]
    list_select_related = ["customer", "owner"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="customer", ordering="customer__external_id")
    def customer_number(self, transaction) -> int:
        return transaction.customer.external_id


def _plain(amount) -> str:
    """A decimal without its trailing zeros ("123456.789", not "123456.78900000")."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
