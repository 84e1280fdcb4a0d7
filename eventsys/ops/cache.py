"""The Django cache over Redis, failing open: an unreachable Redis is a cache miss, never an error.

The cache holds nothing the service needs to be right (throttle counters only), so when Redis is down
or slow every call answers as if the cache were empty: reads give the default, writes are dropped,
and `incr` raises `CacheUnavailable` (a counter cannot be faked; the caller chooses: the throttles
let the request through). Every call answered without Redis is counted (eventsys.ops.counters);
the warning is logged at most once per `CACHE_WARNING_INTERVAL_SECONDS` per process, with how many
calls failed since the last one. After a failure the process stops asking Redis for
`CACHE_FAIL_OPEN_SECONDS`: a Redis that times out costs one time-out per period, not one a call.
Socket time-outs (`CACHE_TIMEOUT_MS`) are set in settings.CACHES.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from eventsys.ops.counters import CACHE_ERRORS, CACHE_FAIL_OPEN, counter_increment

logger = logging.getLogger(__name__)
_clock = time.monotonic  # tests move it


class CacheUnavailable(Exception):
    """The cache could not answer: Redis is down or slow, or was a moment ago (not asked again yet)."""


class _Outage:
    """This process's view of the cache: whether to skip it for now, and when to warn next."""

    def __init__(self):
        self._lock = threading.Lock()
        self.skip_until = 0.0  # 0: the cache is believed up
        self.warn_after = 0.0
        self.unreported = 0
        self.last_error = ""

    def skipping(self) -> bool:
        return self.skip_until > 0.0 and _clock() < self.skip_until

    def failed(self, operation: str, exc: BaseException | None) -> None:
        counter_increment(CACHE_FAIL_OPEN)
        if exc is not None:
            counter_increment(CACHE_ERRORS)
        now = _clock()
        with self._lock:
            self.unreported += 1
            if exc is not None:
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                self.skip_until = now + settings.CACHE_FAIL_OPEN_SECONDS
            if now < self.warn_after:
                return
            self.warn_after = now + settings.CACHE_WARNING_INTERVAL_SECONDS
            unreported, self.unreported = self.unreported, 0
            error = self.last_error
        logger.warning(
            "cache unavailable (%s on %s); failing open: throttles allow, reads miss. "
            "%d cache call(s) answered without the cache since the last warning; next warning in %ss at most",
            error,
            operation,
            unreported,
            settings.CACHE_WARNING_INTERVAL_SECONDS,
        )

    def recovered(self) -> None:
        with self._lock:
            if not self.skip_until:
                return
            self.skip_until = 0.0
            self.warn_after = 0.0
            unreported, self.unreported = self.unreported, 0
        logger.info("cache reachable again; %d cache call(s) were answered without it", unreported)

    def reset(self) -> None:
        with self._lock:
            self.skip_until = self.warn_after = 0.0
            self.unreported = 0
            self.last_error = ""


outage = _Outage()


class FailOpenRedisCache(RedisCache):
    """Django's RedisCache; a Redis error (or a recent one) makes a call answer as an empty cache."""

    def _call(self, operation: str, fallback, *args, **kwargs):
        if outage.skipping():
            outage.failed(operation, None)
        else:
            try:
                result = getattr(super(), operation)(*args, **kwargs)
            except RedisError as exc:
                outage.failed(operation, exc)
            else:
                if outage.skip_until:
                    outage.recovered()
                return result
        if fallback is CacheUnavailable:
            raise CacheUnavailable(outage.last_error)
        return fallback

    def add(self, *args, **kwargs):
        return self._call("add", False, *args, **kwargs)

    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version)

    def set(self, *args, **kwargs):
        return self._call("set", None, *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", False, *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", False, *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", {}, *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", False, *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", CacheUnavailable, *args, **kwargs)

    def set_many(self, data, *args, **kwargs):
        # Django's contract: the keys that could not be set.
        return self._call("set_many", list(data), data, *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", None, *args, **kwargs)

    def clear(self):
        return self._call("clear", False)

    def ping(self) -> None:
        """Ask Redis directly (for readiness): raises its error; a success ends a believed outage."""
        self._cache.get_client(write=True).ping()
        outage.recovered()
