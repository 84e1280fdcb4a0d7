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
