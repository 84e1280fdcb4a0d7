"""Adapters for two original services: Kryptolert's price alerts and the transaction-alert API."""

from alerts.legacy import price_alerts, transactions

urlpatterns = [*price_alerts.urlpatterns, *transactions.urlpatterns]
