from django.db import models


class Heartbeat(models.Model):
    """When a background component last proved it was alive (one row per component)."""

    class Component(models.TextChoices):
        BEAT = "beat"
        WORKER = "worker"

    component = models.CharField(max_length=16, choices=Component.choices, primary_key=True)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(component__in=["beat", "worker"]), name="ops_heartbeat_component_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"
