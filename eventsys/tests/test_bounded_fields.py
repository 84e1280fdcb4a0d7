"""Every writable field of the API is one of the project's (eventsys.api.fields): times and JSON are
bounded (eventsys.api.bounds), so nothing stored can later break a read; text, booleans and integers
take only the JSON type the schema names. A new serializer with a plain DRF field would let in
values that later break reads, or a number stored as text the client never sent."""

import pytest
from django.urls import get_resolver
from rest_framework import serializers

from eventsys.api.fields import (
    BoundedDateTimeField,
    ExactDecimalField,
    JSONTextMixin,
    StorableJSONField,
    StrictBooleanField,
    StrictIntegerField,
)

PROJECT_PACKAGES = ("accounts", "alerts", "events", "eventsys", "triggers")


def _subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def project_serializers():
    get_resolver().url_patterns  # noqa: B018  importing the URLconf imports every view and serializer
    return sorted(
        {
            cls
            for cls in _subclasses(serializers.Serializer)
            if cls.__module__.split(".")[0] in PROJECT_PACKAGES
            and ".tests" not in cls.__module__
            and not (issubclass(cls, serializers.ModelSerializer) and not hasattr(cls, "Meta"))  # a base class
        },
        key=lambda cls: f"{cls.__module__}.{cls.__qualname__}",
    )


def _writable_leaves(field, name):
    if field.read_only:
        return
    if isinstance(field, serializers.ListField | serializers.DictField):
        yield from _writable_leaves(field.child, f"{name}[]")
    else:
        yield name, field


def test_the_scan_sees_the_serializers_that_take_times_and_json():
    names = {cls.__name__ for cls in project_serializers()}
    assert {"TriggerSerializer", "EventSerializer", "PriceAlertSerializer", "LegacyIngestEventSerializer"} <= names


@pytest.mark.parametrize("serializer_class", project_serializers(), ids=lambda cls: cls.__qualname__)
def test_writable_times_and_json_are_bounded(serializer_class):
    fields = serializer_class().fields
    for name, field in fields.items():
        for leaf_name, leaf in _writable_leaves(field, name):
            if isinstance(leaf, serializers.DateTimeField):
                assert isinstance(leaf, BoundedDateTimeField), f"{leaf_name} takes unbounded times"
            if isinstance(leaf, serializers.JSONField):
                assert isinstance(leaf, StorableJSONField), f"{leaf_name} takes JSON that may not be storable"


# DRF field class -> the project's field every writable one of that kind must be.
_STRICT = {
    serializers.CharField: JSONTextMixin,
    serializers.BooleanField: StrictBooleanField,
    serializers.IntegerField: StrictIntegerField,
    serializers.DecimalField: ExactDecimalField,
}


@pytest.mark.parametrize("serializer_class", project_serializers(), ids=lambda cls: cls.__qualname__)
def test_writable_text_booleans_and_numbers_take_only_their_json_type(serializer_class):
    fields = serializer_class().fields
    for name, field in fields.items():
        for leaf_name, leaf in _writable_leaves(field, name):
            for drf_class, strict_class in _STRICT.items():
                if isinstance(leaf, drf_class):
                    assert isinstance(leaf, strict_class), f"{leaf_name} is a plain {type(leaf).__name__}"
