from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: liveness, readiness, beat/worker heartbeats and the all-in-one launcher."""

    name = "eventsys.ops"
    label = "ops"
