import re
from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from alerts.models import AlertRule, PriceAlert, PriceTick, Transaction, TransactionAlert, TransactionType
from eventsys.api.fields import (
    BoundedDateTimeField,
    ExactDecimalField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from eventsys.api.serializers import ModelSerializer

_CURRENCY = re.compile(r"[a-z]{2,10}")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Bitcoin above 120,000 USD",
            request_only=True,
            value={"coin": "bitcoin", "target_price": "120000", "direction": "above"},
        )
    ]
)
class PriceAlertSerializer(ModelSerializer):
    """`coin` takes a CoinGecko id (bitcoin) or a symbol (btc; shared symbols go to the best market-cap
    rank); `direction` may be left out to be inferred from the latest price."""

    coin = StrictCharField(max_length=100)
    target_price = ExactDecimalField(max_digits=30, decimal_places=8, coerce_to_string=True)
    direction = serializers.ChoiceField(choices=PriceAlert.Direction.choices, required=False)
    rearm_band_percent = ExactDecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal("99.99"), required=False
    )
    expires_at = BoundedDateTimeField(required=False, allow_null=True)

    class Meta:
        model = PriceAlert
        fields = [
            "id",
            "coin",
            "currency",
            "target_price",
            "direction",
            "repeat",
            "rearm_band_percent",
            "expires_at",
            "status",
            "triggered_at",
            "triggered_price",
            "created_at",
        ]
        read_only_fields = ["id", "status", "triggered_at", "triggered_price", "created_at"]

    def validate_target_price(self, value):
        if value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value

    def validate_currency(self, value):
        value = value.strip().lower()
        if not _CURRENCY.fullmatch(value):
            raise serializers.ValidationError("A currency code such as usd or eur.")
        return value


class PriceTickSerializer(ModelSerializer):
    class Meta:
        model = PriceTick
        fields = ["coin", "currency", "price", "source_updated_at", "fetched_at"]
        read_only_fields = fields


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A withdrawal",
            request_only=True,
            value={"type": "withdraw", "amount": "42.00", "user_id": 1, "time": 10},
        )
    ]
)
class TransactionInSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=TransactionType.choices)
    amount = ExactDecimalField(max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    user_id = StrictIntegerField(min_value=1, max_value=2**63 - 1)
    time = StrictIntegerField(min_value=0, max_value=2**63 - 1)
    idempotency_key = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class _EvidenceSerializer(serializers.Serializer):
    id = StrictIntegerField(allow_null=True, help_text="null: the transaction of this dry run, never stored")
    type = StrictCharField()
    amount = StrictCharField(help_text="An exact decimal")
    time = StrictIntegerField()


class TransactionAnswerSerializer(serializers.Serializer):
    alert = StrictBooleanField()
    alert_codes = serializers.ListField(child=StrictIntegerField())
    user_id = StrictIntegerField()
    evidence = serializers.DictField(
        child=serializers.ListField(child=_EvidenceSerializer()),
        required=False,
        help_text="Dry runs only: per alert code, the transactions that would make it fire, oldest first.",
    )
    dry_run = StrictBooleanField(required=False, help_text="Present, and true, on a dry run only.")


class TransactionSerializer(ModelSerializer):
    user_id = StrictIntegerField(source="customer.external_id", read_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "user_id", "type", "amount", "time", "idempotency_key", "answer", "created_at"]
        read_only_fields = fields


class TransactionAlertSerializer(ModelSerializer):
    user_id = StrictIntegerField(source="customer.external_id", read_only=True)
    transaction_id = StrictIntegerField(read_only=True)
    evidence = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = TransactionAlert
        fields = ["id", "code", "user_id", "transaction_id", "evidence", "created_at"]
        read_only_fields = fields


class AlertRuleSerializer(ModelSerializer):
    class Meta:
        model = AlertRule
        fields = [
            "id",
            "code",
            "kind",
            "transaction_type",
            "threshold",
            "count",
            "window_seconds",
            "priority",
            "enabled",
            "description",
        ]

    def validate(self, attrs):
        # The kind decides which parameters are required: check the rule as it will be.
        current = {name: getattr(self.instance, name) for name in self.Meta.fields[1:]} if self.instance else {}
        AlertRule(**{**current, **attrs}).clean()
        return attrs


class _AlertRuleChangesSerializer(ModelSerializer):
    """A rule's evaluation parameters, each optional: those given replace the rule's own."""

    class Meta:
        model = AlertRule
        fields = ["kind", "transaction_type", "threshold", "count", "window_seconds"]
        extra_kwargs = {name: {"required": False} for name in fields}

    def to_representation(self, instance):
        # Only the parameters given (a nullable one would otherwise read as null when absent).
        return {name: value for name, value in super().to_representation(instance).items() if name in instance}


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Rule 1100 at 150 instead of 100, over 30 days",
            request_only=True,
            value={"threshold": "150.00", "days": 30},
        ),
        OpenApiExample(
            "Rule 30 on 4 withdrawals in a row, over the last week",
            request_only=True,
            value={"count": 4, "days": 7},
        ),
    ]
)
class AlertRuleBacktestInSerializer(_AlertRuleChangesSerializer):
    """The parameters to change (any of kind, transaction_type, threshold, count, window_seconds; none:
    the rule as it is on both sides) and how many days of stored transactions to replay."""

    days = StrictIntegerField(min_value=1, max_value=90, default=30, help_text="Days of stored transactions to replay")

    class Meta(_AlertRuleChangesSerializer.Meta):
        fields = [*_AlertRuleChangesSerializer.Meta.fields, "days"]

    def validate(self, attrs):
        # The rule as it would be, checked as the admin and the rules API check it (the kind's parameters).
        rule = self.context["rule"]
        changes = {name: value for name, value in attrs.items() if name != "days"}
        AlertRule(
            **{**{name: getattr(rule, name) for name in _AlertRuleChangesSerializer.Meta.fields}, **changes}
        ).clean()
        return attrs


class _BacktestEvidenceSerializer(serializers.Serializer):
    id = StrictIntegerField()
    type = StrictCharField()
    amount = StrictCharField(help_text="An exact decimal")
    time = StrictIntegerField()


class _BacktestExampleSerializer(serializers.Serializer):
    transaction_id = StrictIntegerField()
    owner = StrictCharField(help_text="The username of the transaction's owner (the API caller who stored it)")
    user_id = StrictIntegerField(help_text="The owner's customer number")
    type = StrictCharField()
    amount = StrictCharField(help_text="An exact decimal")
    time = StrictIntegerField(help_text="The client's timestamp, as stored")
    only_here = StrictBooleanField(help_text="The other side does not fire on this transaction")
    evidence = _BacktestEvidenceSerializer(many=True, help_text="What made it fire, oldest first")


class _BacktestSideSerializer(serializers.Serializer):
    alerts = StrictIntegerField(help_text="Alerts it would have stored: one per transaction it fires on")
    transactions = StrictIntegerField(help_text="Distinct transactions in those alerts' evidence")
    customers = StrictIntegerField(help_text="Distinct customers alerted")
    examples = _BacktestExampleSerializer(
        many=True, help_text="Up to 20: first those the other side does not fire on, then the latest stored"
    )


class _BacktestWindowSerializer(serializers.Serializer):
    def get_fields(self):  # `from` is a Python keyword
        return {
            "from": serializers.DateTimeField(
                source="window_from", read_only=True, help_text="The window's start, included (UTC)"
            ),
            "to": serializers.DateTimeField(
                source="window_to", read_only=True, help_text="Its end, included: the request's time"
            ),
        }


class _BacktestReplayedSerializer(serializers.Serializer):
    transactions = StrictIntegerField(source="replayed_transactions", help_text="Stored in the window, all types")
    customers = StrictIntegerField(source="replayed_customers")


class _BacktestRecordedSerializer(serializers.Serializer):
    alerts = StrictIntegerField(
        source="recorded_alerts", help_text="Alerts this rule actually stored on the window's transactions"
    )


class _BacktestDifferenceSerializer(serializers.Serializer):
    added = StrictIntegerField(help_text="Transactions only the changed rule fires on")
    removed = StrictIntegerField(help_text="Transactions only the rule as it is fires on")
    kept = StrictIntegerField(help_text="Transactions both fire on")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Rule 1100 at 150",
            response_only=True,
            value={
                "rule": {
                    "id": 1,
                    "code": 1100,
                    "kind": "amount_over",
                    "transaction_type": "withdraw",
                    "threshold": "100.00",
                    "count": None,
                    "window_seconds": None,
                    "priority": 10,
                    "enabled": True,
                    "description": "A withdrawal over 100",
                },
                "changed": {"threshold": "150.00"},
                "days": 30,
                "window": {"from": "2026-02-01T12:00:00Z", "to": "2026-03-03T12:00:00Z"},
                "replayed": {"transactions": 48210, "customers": 1204},
                "recorded": {"alerts": 3120},
                "current": {"alerts": 3120, "transactions": 3120, "customers": 811, "examples": []},
                "backtest": {
                    "alerts": 1406,
                    "transactions": 1406,
                    "customers": 502,
                    "examples": [
                        {
                            "transaction_id": 90412,
                            "owner": "acme",
                            "user_id": 77,
                            "type": "withdraw",
                            "amount": "180.00",
                            "time": 1772539200,
                            "only_here": False,
                            "evidence": [{"id": 90412, "type": "withdraw", "amount": "180.00", "time": 1772539200}],
                        }
                    ],
                },
                "difference": {"added": 0, "removed": 1714, "kept": 1406},
                "seconds": 0.42,
            },
        )
    ]
)
class AlertRuleBacktestSerializer(serializers.Serializer):
    """What the rule as it is (`current`) and as changed (`backtest`) would have fired on the window's
    transactions, both as if enabled, each transaction on its history as the live path saw it."""

    rule = AlertRuleSerializer(help_text="The rule as it is")
    changed = _AlertRuleChangesSerializer(help_text="The parameters changed for the backtest")
    days = StrictIntegerField()
    window = _BacktestWindowSerializer(source="*")
    replayed = _BacktestReplayedSerializer(source="*")
    recorded = _BacktestRecordedSerializer(source="*")
    current = _BacktestSideSerializer()
    backtest = _BacktestSideSerializer()
    difference = _BacktestDifferenceSerializer(source="*")
    seconds = serializers.FloatField(help_text="How long the backtest took")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Bitcoin above 100,000 USD, re-arming 2.5 % below, over 90 days",
            request_only=True,
            value={
                "coin": "btc",
                "currency": "usd",
                "target_price": "100000",
                "direction": "above",
                "repeat": True,
                "rearm_band_percent": "2.5",
                "days": 90,
            },
        )
    ]
)
class PriceBacktestInSerializer(PriceAlertSerializer):
    """A price alert as you would create it (the same fields and checks) and the days of CoinGecko's price
    history to replay it on; without a direction it is inferred from the first price of the window."""

    days = StrictIntegerField(min_value=1, max_value=365, default=30, help_text="Days of price history")

    class Meta(PriceAlertSerializer.Meta):
        fields = ["coin", "currency", "target_price", "direction", "repeat", "rearm_band_percent", "days"]
        read_only_fields = []


class _BacktestPricePointSerializer(serializers.Serializer):
    time = serializers.DateTimeField(read_only=True, help_text="CoinGecko's time of the price (UTC)")
    price = StrictCharField(source="price_text", help_text="An exact decimal, as CoinGecko gave it")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Fired twice",
            response_only=True,
            value={
                "coin": "bitcoin",
                "currency": "usd",
                "target_price": "100000.00000000",
                "direction": "above",
                "repeat": True,
                "rearm_band_percent": "2.50",
                "rearm_price": "97500.00000000",
                "days": 90,
                "window": {"from": "2026-01-01T12:00:00Z", "to": "2026-04-01T12:00:00Z"},
                "points": 2160,
                "first": {"time": "2026-01-01T12:03:11.204000Z", "price": "94210.5512"},
                "last": {"time": "2026-04-01T11:58:40.118000Z", "price": "101210.33"},
                "lowest": {"time": "2026-01-13T04:00:52.901000Z", "price": "90118.02"},
                "highest": {"time": "2026-03-28T16:00:21.344000Z", "price": "104001.7"},
                "count": 2,
                "first_fired": {"time": "2026-02-10T09:00:12.412000Z", "price": "100042.1"},
                "last_fired": {"time": "2026-03-20T18:00:33.871000Z", "price": "100390.06"},
                "firings": [
                    {"time": "2026-02-10T09:00:12.412000Z", "price": "100042.1"},
                    {"time": "2026-03-20T18:00:33.871000Z", "price": "100390.06"},
                ],
                "status": "triggered",
            },
        )
    ]
)
class PriceBacktestSerializer(serializers.Serializer):
    """When the alert would have fired over the window: each price is one poll of the live alert."""

    coin = StrictCharField(help_text="The CoinGecko id the coin resolved to")
    currency = StrictCharField()
    target_price = ExactDecimalField(max_digits=30, decimal_places=8, coerce_to_string=True)
    direction = serializers.ChoiceField(choices=PriceAlert.Direction.choices, help_text="As given, or inferred")
    repeat = StrictBooleanField()
    rearm_band_percent = ExactDecimalField(max_digits=5, decimal_places=2, coerce_to_string=True)
    rearm_price = ExactDecimalField(
        max_digits=30,
        decimal_places=8,
        coerce_to_string=True,
        allow_null=True,
        help_text="Where a repeating alert re-arms (target ∓ band); null without repeat",
    )
    days = StrictIntegerField()
    window = _BacktestWindowSerializer(source="*")
    points = StrictIntegerField(help_text="Prices in the window")
    first = _BacktestPricePointSerializer(allow_null=True)
    last = _BacktestPricePointSerializer(allow_null=True)
    lowest = _BacktestPricePointSerializer(allow_null=True)
    highest = _BacktestPricePointSerializer(allow_null=True)
    count = StrictIntegerField(help_text="How many times it would have fired")
    first_fired = _BacktestPricePointSerializer(allow_null=True)
    last_fired = _BacktestPricePointSerializer(allow_null=True)
    firings = _BacktestPricePointSerializer(many=True, help_text="Each time it would have fired, oldest first")
    status = StrictCharField(help_text="Where the alert would be at the end: created (waiting) or triggered")
