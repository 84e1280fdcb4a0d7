from decimal import Decimal

from django.db import migrations

ORIGINAL_RULES = [
    dict(code=1100, kind="amount_over", transaction_type="withdraw", threshold=Decimal("100"), priority=10,
         description="A withdrawal over 100"),
    dict(code=30, kind="consecutive_type", transaction_type="withdraw", count=3, priority=20,
         description="Three withdrawals in a row"),
    dict(code=300, kind="increasing_series", transaction_type="deposit", count=3, priority=30,
         description="Three increasing deposits (withdrawals between ignored)"),
    dict(code=123, kind="window_sum", transaction_type="deposit", threshold=Decimal("200"), window_seconds=30,
         priority=40, description="Deposits within 30 seconds summing to over 200"),
]  # fmt: skip


def create_original_rules(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for rule in ORIGINAL_RULES:
        AlertRule.objects.get_or_create(code=rule["code"], defaults=rule)


def remove_original_rules(apps, schema_editor):
    apps.get_model("alerts", "AlertRule").objects.filter(code__in=[r["code"] for r in ORIGINAL_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]

    operations = [migrations.RunPython(create_original_rules, remove_original_rules)]
