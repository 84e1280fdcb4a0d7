from django.conf import settings
from django.db import models
from django.db.models import Q


class Coin(models.Model):
    """CoinGecko's catalogue (id, symbol, name), kept to resolve symbols such as BTC to ids."""

    id = models.CharField(max_length=100, primary_key=True)
    symbol = models.CharField(max_length=50, db_index=True)  # symbol resolution looks it up
    name = models.CharField(max_length=200)
    # CoinGecko's rank by market cap (1 = largest) at the last ranking fetched; null outside the
    # COINGECKO_RANKED_PAGES pages fetched. A symbol several coins share names the best-ranked one.
    market_cap_rank = models.PositiveIntegerField(null=True, blank=True)
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
            models.Index(fields=["triggered_at"], name="alerts_price_triggered"),  # the dashboard's hourly counts
            # the dashboard's e-mails not sent yet
            models.Index(
                fields=["triggered_at"],
                condition=Q(status="triggered", notified_at__isnull=True),
                name="alerts_price_unsent",
            ),
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


class TransactionType(models.TextChoices):
    DEPOSIT = "deposit"
    WITHDRAW = "withdraw"


class AlertRule(models.Model):
    """A transaction-monitoring rule: data an operator edits, evaluated on every transaction."""

    class Kind(models.TextChoices):
        AMOUNT_OVER = "amount_over"  # this transaction's amount > threshold
        CONSECUTIVE_TYPE = "consecutive_type"  # the latest `count` transactions are all of the type
        INCREASING_SERIES = "increasing_series"  # the latest `count` of the type each larger than the last
        WINDOW_SUM = "window_sum"  # the type's amounts within `window_seconds` sum to > threshold

    code = models.PositiveIntegerField(unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    transaction_type = models.CharField(max_length=16, choices=TransactionType.choices)
    threshold = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    count = models.PositiveSmallIntegerField(null=True, blank=True)
    window_seconds = models.PositiveIntegerField(null=True, blank=True)
    priority = models.IntegerField(default=100, help_text="Codes are answered in ascending priority")
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["priority", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["amount_over", "consecutive_type", "increasing_series", "window_sum"]),
                name="alerts_rule_kind",
            ),
            models.CheckConstraint(condition=Q(transaction_type__in=["deposit", "withdraw"]), name="alerts_rule_type"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.description or self.kind}"

    def clean(self):
        from django.core.exceptions import ValidationError

        needs = {
            self.Kind.AMOUNT_OVER: ["threshold"],
            self.Kind.CONSECUTIVE_TYPE: ["count"],
            self.Kind.INCREASING_SERIES: ["count"],
            self.Kind.WINDOW_SUM: ["threshold", "window_seconds"],
        }.get(self.kind, [])
        errors = {name: ["Required for this kind of rule."] for name in needs if getattr(self, name) is None}
        if self.count is not None and not 1 <= self.count <= 100:
            errors["count"] = ["Between 1 and 100."]
        if errors:
            raise ValidationError(errors)


class Customer(models.Model):
    """One of a caller's customers (the wire's `user_id`); its row serialises that customer's transactions."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customers")
    external_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "external_id"], name="alerts_customer_once")]

    def __str__(self) -> str:
        return f"customer {self.external_id}"


class Transaction(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="transactions")
    type = models.CharField(max_length=16, choices=TransactionType.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    time = models.BigIntegerField(help_text="The client's timestamp in seconds; history is ordered by it")
    idempotency_key = models.CharField(max_length=200, blank=True)
    answer = models.JSONField(help_text="What the request was answered, for an idempotent resend")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # the rules' look-backs: a customer's history by (time, arrival), optionally by type
            models.Index(fields=["customer", "time", "id"], name="alerts_tx_history"),
            models.Index(fields=["customer", "type", "time", "id"], name="alerts_tx_history_type"),
            models.Index(fields=["owner", "-id"], name="alerts_tx_owner"),
            models.Index(fields=["created_at"], name="alerts_tx_created"),  # the dashboard's hourly counts
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"], condition=~Q(idempotency_key=""), name="alerts_tx_idempotent"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="alerts_tx_amount_positive"),
            models.CheckConstraint(condition=Q(time__gte=0), name="alerts_tx_time_non_negative"),
            models.CheckConstraint(condition=Q(type__in=["deposit", "withdraw"]), name="alerts_tx_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount} at {self.time}"


class TransactionAlert(models.Model):
    """A rule that fired on a transaction, with the transactions that made it fire."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="alerts")
    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(AlertRule, null=True, on_delete=models.SET_NULL, related_name="+")
    code = models.PositiveIntegerField()
    evidence = models.ManyToManyField(Transaction, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-id"], name="alerts_txalert_owner"),
            models.Index(fields=["owner", "code", "-id"], name="alerts_txalert_code"),
            models.Index(fields=["created_at"], name="alerts_txalert_created"),  # the dashboard's hourly counts
        ]

    def __str__(self) -> str:
        return f"{self.code} on {self.transaction_id}"
