"""The propagator: send events to an HTTP endpoint, the job of the original propagator service.

Events come from a JSON file of samples (PROPAGATOR_SAMPLES_PATH: a list of {event_type,
event_payload}) or, when there is none, are generated. They are POSTed with a bearer token through
eventsys.http (time-outs, SSRF guard, classification); pointed at our own /api/v1/ingest/ with an
API token, they are ingested like any machine's.
"""

import json
import random
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from eventsys.http import Outcome, post_json


def propagator_samples(path: Path | None = None) -> list[dict]:
    """The sample events in `path` (default PROPAGATOR_SAMPLES_PATH); [] when there is no such file."""
    path = Path(path or settings.PROPAGATOR_SAMPLES_PATH)
    if not path.exists():
        return []
    try:
        samples = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"PROPAGATOR_SAMPLES_PATH {path} is not a readable JSON file: {exc}") from None
    if not isinstance(samples, list) or not all(isinstance(s, dict) and "event_type" in s for s in samples):
        raise ImproperlyConfigured(f"PROPAGATOR_SAMPLES_PATH {path} must hold a list of {{event_type, event_payload}}")
    return samples


def generated_event(rng: random.Random) -> dict:
    return {
        "event_type": rng.choice(["sensor.reading", "job.finished", "user.signed_in"]),
        "event_payload": {"value": round(rng.uniform(0, 100), 2), "source": "eventsys-propagator"},
    }


def propagator_batch(*, count: int | None = None, samples: list[dict] | None = None, rng=None) -> object:
    """The JSON body of one send: one event (count 1) or a list, each with an idempotency key and
    occurred_at, so that a resend of the same body is recognised by an eventsys receiver."""
    rng = rng or random.Random()
    samples = propagator_samples() if samples is None else samples
    count = count or settings.PROPAGATOR_BATCH_SIZE
    picked = [dict(rng.choice(samples)) if samples else generated_event(rng) for _ in range(count)]
    now = timezone.now().isoformat()
    for event in picked:
        event.setdefault("idempotency_key", f"propagator-{uuid.uuid4()}")
        event.setdefault("occurred_at", now)
    return picked[0] if count == 1 else picked


def propagator_send(*, url: str, token: str, body: object) -> Outcome:
    """POST `body` to `url` with `token` as a bearer token, through the one outbound HTTP client."""
    if not url:
        raise ImproperlyConfigured("The propagator needs a URL (PROPAGATOR_URL or --url).")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return post_json(url, json.dumps(body, separators=(",", ":")).encode(), headers=headers)
