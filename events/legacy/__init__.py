"""Adapters for two original services: the event consumer (ingestion) and event management."""

from events.legacy import events, ingestion

urlpatterns = [*ingestion.urlpatterns, *events.urlpatterns]
