"""Heartbeats and the readiness report behind /api/ready/."""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.utils import timezone
from kombu import Connection

from eventsys.ops.cache import FailOpenRedisCache
from eventsys.ops.models import Heartbeat


def heartbeat_record(*, component: str, now: datetime | None = None) -> None:
    Heartbeat.objects.update_or_create(component=component, defaults={"seen_at": now or timezone.now()})


# Checks whose failure degrades the service without making it unready: /api/ready/ stays 200 and lists
# them under `degraded`, so a load balancer keeps a replica that still serves from the database alone.
# A stopped dispatcher is one: the web replica is not at fault and serves the API all the same (pulling
# every replica would turn a background outage into a full one); beat or worker failing, when that is
# the cause, already makes the answer a 503.
DEGRADABLE_CHECKS = frozenset({"cache", "dispatcher"})


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"; the message says which
        return Check(False, f"unreachable: {exc.__class__.__name__}: {exc}")
    return Check(True, connection.vendor)


def check_broker() -> Check:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            folder = Path(options[key])
            if not folder.is_dir() or not os.access(folder, os.W_OK):
                return Check(False, f"filesystem broker folder {folder} is missing or not writable")
        return Check(True, "filesystem")
    try:
        with Connection(
            url,
            connect_timeout=settings.READY_CHECK_TIMEOUT,
            transport_options={**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "max_retries": 0},
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.READY_CHECK_TIMEOUT)
            conn.default_channel  # noqa: B018  opening a channel proves the broker answers
            transport = conn.transport_cls
    except Exception as exc:
        return Check(False, f"unreachable: {exc.__class__.__name__}: {exc}")
    return Check(True, str(transport))


def check_cache() -> Check:
    """Whether the cache answers. Failing degrades (throttles fail open), it does not make the service unready."""
    cache = caches["default"]
    if not isinstance(cache, FailOpenRedisCache):
        return Check(True, f"{cache.__class__.__name__} (this process only)")
    try:
        cache.ping()
    except Exception as exc:
        return Check(False, f"unreachable: {exc.__class__.__name__}: {exc}; throttles fail open")
    return Check(True, "redis")


def check_heartbeat(*, component: str, now: datetime) -> Check:
    max_age = timedelta(seconds=settings.READY_HEARTBEAT_MAX_AGE)
    try:
        seen_at = Heartbeat.objects.filter(component=component).values_list("seen_at", flat=True).first()
    except Exception as exc:
        return Check(False, f"unknown: {exc.__class__.__name__}")
    if seen_at is None:
        return Check(False, "never seen")
    age = (now - seen_at).total_seconds()
    if age > max_age.total_seconds():
        return Check(False, f"last seen {age:.0f}s ago (limit {max_age.total_seconds():.0f}s)")
    return Check(True, f"last seen {max(age, 0):.0f}s ago")


def check_dispatcher(*, now: datetime) -> Check:
    """Whether triggers fire: fails when a slot has been due over WATCHDOG_GRACE_SECONDS and no firing was
    logged meanwhile (triggers/services/watchdog.py). Read from the database alone: works without beat."""
    from triggers.services.watchdog import dispatcher_status

    try:
        stopped, detail = dispatcher_status(now=now)
    except Exception as exc:
        return Check(False, f"unknown: {exc.__class__.__name__}")
    return Check(not stopped, detail)


def readiness_report(*, now: datetime | None = None) -> dict[str, Check]:
    now = now or timezone.now()
    database = check_database()
    report = {"database": database, "broker": check_broker(), "cache": check_cache()}
    for component in Heartbeat.Component.values:
        report[component] = (
            check_heartbeat(component=component, now=now) if database.ok else Check(False, "database unreachable")
        )
    report["dispatcher"] = check_dispatcher(now=now) if database.ok else Check(False, "database unreachable")
    return report
