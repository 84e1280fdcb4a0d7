"""Worker liveness: each `celery worker` instance says it is alive every few seconds.

The sweeper (triggers/services/delivery.py) uses this to tell a dead worker from a slow one: an
attempt is claimed in the name of the worker instance running it, and when that instance has gone
silent while another worker is heard, the attempt is re-sent at once instead of after its lease.

- An instance is one start of one worker: `<nodename>:<pid>:<token>`. The parent process registers
  it on `worker_init`, before the pool forks, so every pool child inherits the name and claims in it
  (eventsys/celery.py wires the signals). A restarted worker is a new instance; the old one stays
  silent and is presumed dead.
- The parent beats from a daemon thread (WORKER_HEARTBEAT_SECONDS): it is idle while the children
  deliver, it dies with the process (kill -9 of the group stops it at once), and a slow database
  write never blocks the consumer's event loop. It keeps beating through a warm shutdown, while the
  last tasks finish, and stops only when the process exits.
- "Dead" is relative: an instance is presumed dead when it has not been heard for
  WORKER_PRESUMED_DEAD_SECONDS *before the most recently heard instance*. A database outage silences
  every worker at once, and nobody is declared dead for it (re-sending a running attempt sends it
  twice); a killed worker is declared dead as soon as a live one has been heard long enough after it.
  All times are the database's clock, so hosts' clocks do not matter.
"""

import contextlib
import logging
import os
import secrets
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import QuerySet

from eventsys import clock
from eventsys.ops.models import WorkerInstance

logger = logging.getLogger(__name__)

# Rows of instances not heard for this long are deleted when a worker starts (restarts leave one each).
FORGET_AFTER = timedelta(days=1)

# This process's instance: set in a worker's parent before its pool forks, so pool children inherit it;
# "" in every other process (web, beat, management commands), whose claims then name no worker and are
# recovered by their lease alone.
_this_worker = ""


def this_worker() -> str:
    """The worker instance this process belongs to, or "" outside a worker."""
    return _this_worker


def worker_register(*, hostname: str, pid: int | None = None, now: datetime | None = None) -> str:
    """Name this process as a new worker instance, record it as heard now, and forget long-dead ones."""
    global _this_worker
    pid = os.getpid() if pid is None else pid
    now = now or clock.database_now()
    instance = f"{hostname}:{pid}:{secrets.token_hex(4)}"
    WorkerInstance.objects.create(instance=instance, hostname=hostname, pid=pid, started_at=now, seen_at=now)
    WorkerInstance.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
    _this_worker = instance
    return instance


def worker_heartbeat(*, instance: str, now: datetime | None = None) -> None:
    now = now or clock.database_now()
    if not WorkerInstance.objects.filter(instance=instance).update(seen_at=now):
        # Forgotten after a day of silence (a host suspended, say): heard again, it is alive again.
        hostname, _, rest = instance.rpartition(":")[0].rpartition(":")
        WorkerInstance.objects.update_or_create(
            instance=instance,
            defaults={"seen_at": now},
            create_defaults={"hostname": hostname, "pid": int(rest or 0), "started_at": now, "seen_at": now},
        )


def _cutoff() -> datetime | None:
    """Instances last heard before this are presumed dead; None when no worker was ever heard."""
    freshest = WorkerInstance.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    if freshest is None:
        return None
    return freshest - timedelta(seconds=settings.WORKER_PRESUMED_DEAD_SECONDS)


def workers_dead() -> QuerySet:
    """The instance names of workers presumed dead (a subquery: the sweeper filters claims by it)."""
    cutoff = _cutoff()
    dead = WorkerInstance.objects.none() if cutoff is None else WorkerInstance.objects.filter(seen_at__lt=cutoff)
    return dead.values("instance")


def workers_alive() -> list[str]:
    cutoff = _cutoff()
    if cutoff is None:
        return []
    return list(WorkerInstance.objects.filter(seen_at__gte=cutoff).values_list("instance", flat=True))


class HeartbeatThread(threading.Thread):
    """Beats for one instance every `interval` seconds until the process exits (or `stop()`)."""

    def __init__(self, instance: str, interval: float):
        super().__init__(name="eventsys-worker-heartbeat", daemon=True)
        self.instance = instance
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while True:
            self.beat()
            if self._stopped.wait(self.interval):
                return

    def beat(self) -> bool:
        try:
            close_old_connections()  # this thread's own connection: CONN_MAX_AGE and health checks
            worker_heartbeat(instance=self.instance)
        except Exception:  # the database is down or the connection was killed: try again next beat
            logger.warning("could not record the heartbeat of worker %s", self.instance, exc_info=True)
            with contextlib.suppress(Exception):
                connection.close()
            return False
        return True

    def stop(self) -> None:
        self._stopped.set()


_thread: HeartbeatThread | None = None


def worker_started(*, hostname: str) -> str:
    """`worker_init`, in the worker's parent before the pool forks: register this instance.

    A worker that cannot reach the database at start still runs; its claims name no instance and are
    recovered by their lease, as before heartbeats existed.
    """
    try:
        instance = worker_register(hostname=hostname)
    except Exception:
        logger.warning("could not register worker %s: its attempts are recovered by lease", hostname, exc_info=True)
        return ""
    finally:
        # The parent needs no connection of its own: pool children must not share one it opened.
        with contextlib.suppress(Exception):
            connection.close()
    logger.info("worker instance %s registered", instance)
    return instance


def worker_heartbeat_start() -> None:
    """`worker_ready`, in the worker's parent: start beating for this instance (once)."""
    global _thread
    if _this_worker and _thread is None:
        _thread = HeartbeatThread(_this_worker, settings.WORKER_HEARTBEAT_SECONDS)
        _thread.start()
