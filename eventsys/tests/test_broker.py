"""The Redis transport's acknowledgement emulation leaves a dead connection's messages to Redis
instead of raising (which ended the worker when Redis died; eventsys/broker.py)."""

from types import SimpleNamespace
from unittest import mock

import pytest
from django.conf import settings as django_settings
from kombu.transport import redis

from eventsys.broker import QoS, Transport


def _qos(client) -> QoS:
    channel = SimpleNamespace(
        connection=SimpleNamespace(client=client), do_restore=False
    )  # no restore at interpreter exit
    qos = QoS(channel)
    qos._delivered["tag-1"] = object()
    return qos


@pytest.mark.parametrize("action", ["ack", "reject", "restore_unacked"])
def test_a_gone_connection_leaves_the_message_to_redis(action, caplog):
    qos = _qos(client=None)
    with mock.patch.object(redis.QoS, action) as kombus:
        getattr(qos, action)(*(["tag-1"] if action != "restore_unacked" else []))
    kombus.assert_not_called()  # kombu's would build a client from the missing connection and raise
    if action == "restore_unacked":
        assert not qos._delivered
    else:
        assert "tag-1" in qos._dirty  # forgotten by this channel (kombu flushes its dirty tags)
    assert "the broker connection is gone" in caplog.text


@pytest.mark.parametrize("action", ["ack", "reject", "restore_unacked"])
def test_a_live_connection_is_left_to_kombu(action):
    qos = _qos(client=object())
    with mock.patch.object(redis.QoS, action) as kombus:
        getattr(qos, action)(*(["tag-1"] if action != "restore_unacked" else []))
    kombus.assert_called_once()


def test_kombus_qos_still_fails_where_ours_does_not():
    """If kombu mends this itself, the override can go: this test then fails and says so."""
    channel = SimpleNamespace(
        connection=SimpleNamespace(client=None), do_restore=False
    )  # no restore at interpreter exit
    kombus = redis.QoS(channel)
    kombus._delivered["tag-1"] = object()
    with pytest.raises(AttributeError):
        redis.QoS.ack(kombus, "tag-1")


def test_redis_broker_urls_use_this_transport():
    url = django_settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        assert django_settings.CELERY_BROKER_TRANSPORT == "eventsys.broker:Transport"
    assert Transport.Channel.QoS is QoS
