"""Publishing many task messages at once: one broker connection, one transport operation where the
broker allows it (Redis pipelines the batch; elsewhere kombu publishes each at once)."""

import logging
from collections.abc import Iterable

from celery import Task

logger = logging.getLogger(__name__)
PIPELINE_MAX = 10_000


def publish_many(messages: Iterable[tuple[Task, tuple]], *, what: str) -> bool:
    """Publish each (task, args) message; False, with a warning naming `what`, if the broker could not
    take them all (an outage is the caller's to recover from, never the request's failure).

    One message at a time costs a round trip and a message build each, and workers woken by the first
    messages take the CPU the rest need: a burst of a thousand would take the caller seconds."""
    messages = list(messages)
    if not messages:
        return True
    app = messages[0][0].app
    try:
        with app.producer_or_acquire() as producer, producer.batch(max_size=PIPELINE_MAX):
            for task, args in messages:
                task.apply_async(args, producer=producer, retry=False)
    except Exception:
        logger.warning("could not publish %d %s", len(messages), what, exc_info=True)
        return False
    return True
