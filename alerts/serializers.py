import re
from decimal import Decimal

from rest_framework import serializers

from alerts.models import PriceAlert, PriceTick

_CURRENCY = re.compile(r"[a-z]{2,10}")


class PriceAlertSerializer(serializers.ModelSerializer):
    """`coin` takes a CoinGecko id (bitcoin) or a symbol that names one coin (btc); `direction` may be
    left out to be inferred from the latest price."""

    coin = serializers.CharField(max_length=100)
    target_price = serializers.DecimalField(max_digits=30, decimal_places=8, coerce_to_string=True)
    direction = serializers.ChoiceField(choices=PriceAlert.Direction.choices, required=False)
    rearm_band_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=Decimal(0), max_value=Decimal("99.99"), required=False
    )

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


class PriceTickSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceTick
        fields = ["coin", "currency", "price", "source_updated_at", "fetched_at"]
