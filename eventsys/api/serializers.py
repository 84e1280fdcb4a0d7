"""The project's ModelSerializer: the fields it builds from a model take only the JSON type the schema
names (eventsys.api.fields), as the fields a serializer declares do."""

from django.db import models
from rest_framework import serializers

from eventsys.api.fields import (
    ExactDecimalField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
    StrictURLField,
)

_INTEGER_MODEL_FIELDS = (
    models.BigIntegerField,
    models.IntegerField,
    models.PositiveBigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.SmallIntegerField,
)


class ModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        **dict.fromkeys(_INTEGER_MODEL_FIELDS, StrictIntegerField),
        models.BooleanField: StrictBooleanField,
        models.CharField: StrictCharField,
        models.DecimalField: ExactDecimalField,
        models.EmailField: StrictEmailField,
        models.TextField: StrictCharField,
        models.URLField: StrictURLField,
    }
