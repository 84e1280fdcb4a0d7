"""`POST /api/events` of the original transaction-alert API (Flask-RESTful), over alerts.services.transactions.

The body is /api/v1/transactions/'s: `user_id` is the caller's customer and `time` the client's
integer seconds that order the customer's history (the 30-second window of rule 123 is counted in
them). Errors keep Flask-RESTful's shape: `{"message": "…"}`, and `{"message": {field: "…"}}` for
invalid fields.
"""

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework.response import Response

from alerts.serializers import TransactionAnswerSerializer, TransactionInSerializer
from alerts.services import transactions
from eventsys.api.fields import StrictCharField
from eventsys.api.legacy import LegacyView
from eventsys.api.parsers import DecimalJSONParser


class AnyContentTypeDecimalJSONParser(DecimalJSONParser):
    """Reads the body as exact-decimal JSON whatever Content-Type the client declared."""

    media_type = "*/*"


_MESSAGE = inline_serializer("LegacyTransactionMessage", {"message": StrictCharField()})


class LegacyTransactionView(LegacyView):
    """Store a customer's deposit or withdrawal and answer which alert rules it fired."""

    acts_as_default_owner = True  # the original took no token
    parser_classes = [DecimalJSONParser, AnyContentTypeDecimalJSONParser]

    @extend_schema(
        operation_id="legacy_transaction_create",
        request=TransactionInSerializer,
        responses={
            200: TransactionAnswerSerializer,
            # 400 (one message per invalid field, or a body that is not JSON) is derived from legacy_error.
            401: _MESSAGE,
            429: _MESSAGE,
        },
    )
    def post(self, request):
        # The original's four fields, read as /api/v1/transactions/ reads them (an optional
        # idempotency_key too); unknown fields are ignored, as the original's reqparse did.
        serializer = TransactionInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        answer = transactions.transaction_record(owner=request.user, **serializer.validated_data)
        return Response(answer.as_dict())

    def legacy_error(self, *, status, message, fields):
        if fields:  # Flask-RESTful's reqparse: one message per field
            return {"message": {name: messages[0] for name, messages in fields.items()}}
        return {"message": message}


urlpatterns = [
    path("api/events", LegacyTransactionView.as_view(), name="legacy-transaction-create"),
]
