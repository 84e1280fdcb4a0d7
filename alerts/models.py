from django.conf import settings
from django.db import models
from django.db.models import Q


class Coin(models.Model):
    """CoinGecko's catalogue (id, symbol, name), kept to resolve symbols such as BTC to ids."""

    id = models.CharField(max_length=100, primary_key=True)
    symbol = models.CharField(max_length=50, db_index=True)  # symbol resolution looks it up
    name = models.CharField(max_length=200)
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.id} ({self.symbol})"


class PriceAlert(models.Model):
    """Tell `owner` when `coin` crosses `target_price` in `currency`, once (or again after re-arming)."""

    class Direction(models.TextChoices):
        ABOVE = "above"  # fires when the price is at or above the target
        BELOW = "below"  # fires when the price is at or below the target

    class Status(models.TextChoices):
        CREATED = "created"  # live: polled and matched
        TRIGGERED = "triggered"
        DELETED = "deleted"  # kept for history, never polled

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="price_alerts")
    coin = models.CharField(max_length=100, help_text="CoinGecko coin id, e.g. bitcoin")
    currency = models.CharField(max_length=10, default="usd")
    target_price = models.DecimalField(max_digits=30, decimal_places=8)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CREATED)
    repeat = models.BooleanField(default=False, help_text="Re-arm after the price moves back past the band")
    rearm_band_percent = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    # A repeating alert's re-arm price (target ∓ band), computed when it is saved.
    rearm_price = models.DecimalField(max_digits=30, decimal_places=8, null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    triggered_price = models.DecimalField(max_digits=32, decimal_places=12, null=True, blank=True)
    price_before = models.DecimalField(max_digits=32, decimal_places=12, null=True, blank=True)
    price_time = models.DateTimeField(null=True, blank=True, help_text="The source's time of the triggering price")
    trigger_count = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True, help_text="E-mail sent for the latest triggering")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # matching: live alerts of one (coin, currency, direction) whose target the price crossed
            models.Index(
                fields=["coin", "currency", "direction", "target_price"],
                condition=Q(status="created"),
                name="alerts_price_live",
            ),
            # re-arming: triggered repeating alerts the price moved back past
            models.Index(
                fields=["coin", "currency", "direction", "rearm_price"],
                condition=Q(status="triggered", repeat=True),
                name="alerts_price_rearmable",
            ),
            # the owner's list
            models.Index(fields=["owner", "-created_at"], name="alerts_price_owner"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(target_price__gt=0), name="alerts_price_target_positive"),
            models.CheckConstraint(condition=Q(direction__in=["above", "below"]), name="alerts_price_direction"),
            models.CheckConstraint(
                condition=Q(status__in=["created", "triggered", "deleted"]), name="alerts_price_status"
            ),
            models.CheckConstraint(
                condition=Q(rearm_band_percent__gte=0, rearm_band_percent__lt=100), name="alerts_price_band"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coin} {self.direction} {self.target_price} {self.currency}"


class PriceTick(models.Model):
    """One price observed at a poll."""

    coin = models.CharField(max_length=100)
    currency = models.CharField(max_length=10)
    price = models.DecimalField(max_digits=32, decimal_places=12)
    source_updated_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField()

    class Meta:
        indexes = [
            # the latest price per (coin, currency) and the price before a crossing
            models.Index(fields=["coin", "currency", "-id"], name="alerts_tick_latest"),
            models.Index(fields=["fetched_at"], name="alerts_tick_fetched"),  # retention
        ]

    def __str__(self) -> str:
        return f"{self.coin} {self.price} {self.currency}"


class ProviderState(models.Model):
    """Per price source: when it may be called again (after a 429) and what went wrong last."""

    name = models.CharField(max_length=50, primary_key=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
