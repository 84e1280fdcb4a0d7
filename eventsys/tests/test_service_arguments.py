import pytest

from eventsys.service_arguments import reject_unknown_fields
from triggers.services import trigger_create


def test_known_fields_pass_and_unknown_ones_are_named():
    reject_unknown_fields({"a": 1}, {"a", "b"}, "thing_create")
    with pytest.raises(TypeError, match=r"thing_create\(\) got unexpected fields \['c', 'd'\]"):
        reject_unknown_fields({"a": 1, "d": 2, "c": 3}, {"a"}, "thing_create")


def test_a_service_refuses_a_field_it_does_not_edit():
    with pytest.raises(TypeError, match="status"):
        trigger_create(owner=None, name="x", status="completed")
