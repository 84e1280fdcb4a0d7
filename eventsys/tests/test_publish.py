"""publish_many: a burst of task messages over one producer, and a broker outage reported, not raised."""

import logging

from eventsys.publish import publish_many
from triggers.tasks import deliver, deliver_many


def test_every_message_goes_out_through_one_producer_in_order(monkeypatch):
    sent = []
    monkeypatch.setattr(deliver, "apply_async", lambda args, **kwargs: sent.append(("deliver", args, kwargs)))
    monkeypatch.setattr(deliver_many, "apply_async", lambda args, **kwargs: sent.append(("many", args, kwargs)))

    assert publish_many([(deliver, ("a",)), (deliver_many, (["b", "c"],)), (deliver, ("d",))], what="deliveries")

    expected = [("deliver", ("a",)), ("many", (["b", "c"],)), ("deliver", ("d",))]
    assert [(name, args) for name, args, _ in sent] == expected
    producers = {id(kwargs["producer"]) for _, _, kwargs in sent}
    assert len(producers) == 1 and all(kwargs["retry"] is False for _, _, kwargs in sent)


def test_nothing_to_publish_touches_no_broker(monkeypatch):
    monkeypatch.setattr(deliver.app, "producer_or_acquire", lambda: (_ for _ in ()).throw(AssertionError("used")))
    assert publish_many([], what="nothing")


def test_a_broker_outage_is_a_warning_and_false(monkeypatch, caplog):
    def refused(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(deliver, "apply_async", refused)
    with caplog.at_level(logging.WARNING, logger="eventsys.publish"):
        assert publish_many([(deliver, ("a",)), (deliver, ("b",))], what="deliveries") is False
    assert "could not publish 2 deliveries" in caplog.text
