"""The FilterSets of the alert lists: price alerts, prices, transactions and transaction alerts."""

from django_filters import rest_framework as django_filters

from alerts.models import PriceAlert, PriceTick, Transaction, TransactionAlert, TransactionType
from eventsys.api.filters import IdFilter, LowercaseChoiceFilter, LowercaseFilter, choice_filter, time_range_filters


def _customer_filter() -> IdFilter:
    return IdFilter(
        field_name="customer__external_id", label="Customer id", error_messages={"invalid": "Must be a customer id."}
    )


class PriceAlertFilterSet(django_filters.FilterSet):
    # The original service's fetch_all/<FILTER> spelt them TRIGGERED, CREATED, DELETED.
    status = choice_filter(
        "status", PriceAlert.Status.values, filter_class=LowercaseChoiceFilter, help_text="case-insensitive"
    )
    coin = LowercaseFilter(field_name="coin", label="Coin id")

    class Meta:
        model = PriceAlert
        fields = []


class PriceTickFilterSet(django_filters.FilterSet):
    coin = LowercaseFilter(field_name="coin", label="Coin id")

    class Meta:
        model = PriceTick
        fields = []


class TransactionFilterSet(django_filters.FilterSet):
    user_id = _customer_filter()
    type = choice_filter(
        "type", TransactionType.values, error_messages={"invalid_choice": "Must be deposit or withdraw."}
    )

    class Meta:
        model = Transaction
        fields = []


class TransactionAlertFilterSet(django_filters.FilterSet):
    code = IdFilter(field_name="code", label="Rule code", error_messages={"invalid": "Must be a rule code."})
    user_id = _customer_filter()
    since, until = time_range_filters("created_at", since="created at or after", until="created before")

    class Meta:
        model = TransactionAlert
        fields = []
