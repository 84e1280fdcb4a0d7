"""Every writable time and JSON field of the API is a bounded one (eventsys.api.bounds): a new
serializer with a plain DRF field would let in values that later break reads."""

import pytest
from django.urls import get_resolver
from rest_framework import serializers

from eventsys.api.fields import BoundedDateTimeField, StorableJSONField

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
            if cls.__module__.split(".")[0] in PROJECT_PACKAGES and ".tests" not in cls.__module__
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
