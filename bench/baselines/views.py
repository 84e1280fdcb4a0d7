"""Bare DRF creates: the product's authentication (Bearer API token), parser, throttles and renderer, a
serializer and one INSERT; no rules, no idempotency, no locks. What the product's endpoint is compared
with: the cost of DRF + token auth + storing the row through the same gunicorn."""

from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.models import Customer, Transaction
from events.models import IngestedEvent


class BareTransactionSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(min_value=1, write_only=True)

    class Meta:
        model = Transaction
        fields = ["id", "user_id", "type", "amount", "time"]
        validators = []  # no uniqueness look-ups: bare


class BareTransactionCreate(APIView):
    """The row POST /api/v1/transactions/ stores, for an existing customer; answers 201."""

    def post(self, request):
        serializer = BareTransactionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        external_id = serializer.validated_data.pop("user_id")
        customer = Customer.objects.get(owner=request.user, external_id=external_id)
        serializer.save(owner=request.user, customer=customer, answer={})
        return Response(serializer.data, status=status.HTTP_201_CREATED)


class BareEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestedEvent
        fields = ["id", "event_type", "event_payload", "idempotency_key"]
        validators = []  # no uniqueness look-ups: bare


class BareIngestCreate(APIView):
    """One event, the row POST /api/v1/ingest/ stores; answers 201."""

    def post(self, request):
        serializer = BareEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save(owner=request.user, body_hash="", received_at=timezone.now())
        return Response(serializer.data, status=status.HTTP_201_CREATED)
