from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self):
        from alerts.models import AlertRule
        from alerts.services.transactions import rules_cache_clear

        # A rule edited here applies to this process's next transaction (other processes: within seconds).
        post_save.connect(rules_cache_clear, sender=AlertRule, dispatch_uid="alerts_rules_cache_save")
        post_delete.connect(rules_cache_clear, sender=AlertRule, dispatch_uid="alerts_rules_cache_delete")
