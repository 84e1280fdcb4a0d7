"""The Redis broker transport: kombu's, with one fix, so that a worker outlives a Redis outage.

When Redis dies, the worker's consumer closes its channel before reconnecting, and closing a channel
puts the messages the worker holds unacknowledged back on their queue. With Redis gone, kombu
(5.7) fails there with an `AttributeError` (the connection has already dropped its client), which
celery does not take for a lost connection: the worker logs "Unrecoverable error" and exits.
Here that restore is skipped instead. The messages stay in Redis's unacked set, which hands them
back after the visibility timeout, and the sweeper re-sends any delivery among them within seconds
(triggers/services/delivery.py), so nothing waits that long. settings.py selects this transport for
redis:// broker URLs (CELERY_BROKER_TRANSPORT).
"""

import logging

from kombu.transport import redis, virtual

virtual_ack = virtual.QoS.ack

logger = logging.getLogger(__name__)


class QoS(redis.QoS):
    """Redis's acknowledgement emulation, leaving alone a channel whose connection is gone.

    After Redis died the consumer moves to a new connection, but the old channel can still be asked
    to acknowledge a task that finishes meanwhile, or to restore unacknowledged messages as it closes;
    kombu would then fail with an AttributeError that ends the worker. Such a message is left in
    Redis's unacked set: it comes back after the visibility timeout, and the tasks are idempotent
    (a delivery's claim is conditional), so running it again changes nothing.
    """

    def _connection_gone(self) -> bool:
        transport = self.channel.connection
        return transport is None or transport.client is None

    def _leave_to_redis(self, action: str, count: int) -> None:
        logger.warning(
            "the broker connection is gone: cannot %s %d message(s); Redis hands them back after the "
            "visibility timeout (the sweeper re-sends lost deliveries sooner)",
            action,
            count,
        )

    def restore_unacked(self, client=None):
        if self._connection_gone():
            self._leave_to_redis("restore", len(self._delivered))
            self._delivered.clear()
            return None
        return super().restore_unacked(client)

    def ack(self, delivery_tag):
        if self._connection_gone():
            self._leave_to_redis("acknowledge", 1)
            return virtual_ack(self, delivery_tag)  # forget it locally; Redis keeps it
        return super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._connection_gone():
            self._leave_to_redis("reject", 1)
            return virtual_ack(self, delivery_tag)
        return super().reject(delivery_tag, requeue=requeue)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
