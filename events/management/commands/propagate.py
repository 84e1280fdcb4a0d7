"""`manage.py propagate`: the original event propagator, as a command.

Like the original it sends one random sample event (PROPAGATOR_SAMPLES_PATH) every 5 seconds
(PROPAGATOR_INTERVAL_SECONDS) to the consumer (PROPAGATOR_URL, PROPAGATOR_TOKEN) after asking it
whether it is ready; unlike it, a consumer that is not ready is asked again after the interval
instead of ending the run, and so is one that stops taking events. Sending goes through
events.propagator, as the beat-driven `events.propagate` task does.
"""

import time
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.propagator import propagator_batch, propagator_send
from eventsys.http import get_json


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # a seam: tests replace it rather than wait


def default_ready_url(url: str) -> str:
    """The readiness probe of the consumer at `url`: `…/ready` beside the original's `…/event`, and
    eventsys's /api/ready beside /api/v1/ingest/; "" (no probe) for any other receiver."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/event"):
        ready = path[: -len("event")] + "ready"
    elif path.endswith("/api/v1/ingest"):
        ready = path[: -len("/v1/ingest")] + "/ready"
    else:
        return ""
    return urlunsplit(parts._replace(path=ready, query="", fragment=""))


class Command(BaseCommand):
    help = (
        "Send events to an HTTP endpoint every N seconds (the propagator), printing each response; "
        "waits for the consumer to be ready first, and again after a failed send."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.PROPAGATOR_URL, help="default: PROPAGATOR_URL")
        parser.add_argument(
            "--token", default=settings.PROPAGATOR_TOKEN, help="bearer token; default: PROPAGATOR_TOKEN"
        )
        parser.add_argument(
            "--interval",
            "--every",
            dest="interval",
            type=float,
            default=settings.PROPAGATOR_INTERVAL_SECONDS,
            help="seconds between sends, and between readiness checks; default: PROPAGATOR_INTERVAL_SECONDS",
        )
        parser.add_argument("--count", type=int, default=0, help="sends before stopping; 0 runs until Ctrl-C")
        parser.add_argument("--batch", type=int, default=settings.PROPAGATOR_BATCH_SIZE, help="events per send")
        parser.add_argument(
            "--ready-url",
            default=None,
            help='the consumer\'s readiness probe (GET, answers {"status": "ready"}); default: …/ready beside '
            "a …/event URL, /api/ready beside /api/v1/ingest/, none otherwise; '' turns the check off",
        )

    def handle(self, *args, url, token, interval, count, batch, ready_url, **options):
        if not url:
            raise CommandError("Give --url (or set PROPAGATOR_URL).")
        if interval <= 0 or batch < 1 or count < 0:
            raise CommandError("--interval must be positive, --batch at least 1, --count 0 or more.")
        ready_url = default_ready_url(url) if ready_url is None else ready_url
        # The original sent its token to /ready too; it goes only where the events go.
        same_origin = urlsplit(ready_url)[:2] == urlsplit(url)[:2]
        probe_headers = {"Authorization": f"Bearer {token}"} if token and same_origin else {}
        sent, ready = 0, not ready_url
        try:
            while count == 0 or sent < count:
                if not ready:
                    ready = self.consumer_ready(ready_url, probe_headers, interval)
                    if not ready:
                        _sleep(interval)
                        continue
                started = time.monotonic()
                outcome = propagator_send(url=url, token=token, body=propagator_batch(count=batch))
                sent += 1
                status = outcome.status_code if outcome.status_code is not None else outcome.kind
                line = f"[{sent}] {status} {outcome.latency_ms} ms {outcome.error or outcome.response_excerpt[:300]}"
                self.stdout.write(line)
                ready = outcome.delivered or not ready_url
                if count == 0 or sent < count:
                    _sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write(f"stopped after {sent} sends")

    def consumer_ready(self, ready_url: str, headers: dict, interval: float) -> bool:
        """Whether the probe answers 200 {"status": "ready"}; says why not. A probe URL that may not be
        requested at all (a private address, a bad scheme) ends the run: waiting cannot fix it."""
        outcome, data = get_json(ready_url, headers=headers)
        if outcome.kind == "failed" and outcome.status_code is None:
            raise CommandError(f"Cannot check {ready_url}: {outcome.error}")
        if outcome.delivered and isinstance(data, dict) and data.get("status") == "ready":
            return True
        why = outcome.error or f"status {data.get('status') if isinstance(data, dict) else data!r}"
        self.stdout.write(f"consumer not ready ({ready_url}: {why}); asking again in {interval:g} s")
        return False
