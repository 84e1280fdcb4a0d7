import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from accounts.services import api_token_create
from events.models import IngestedEvent
from events.propagator import propagator_batch, propagator_samples, propagator_send
from events.tasks import propagate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def propagator_settings(settings, receiver):
    settings.PROPAGATOR_URL = receiver.url
    settings.PROPAGATOR_TOKEN = "evs_sometoken_secret"
    return settings


def test_the_shipped_samples_are_valid_events():
    samples = propagator_samples()
    assert len(samples) >= 5
    assert all(isinstance(s["event_type"], str) and "event_payload" in s for s in samples)


def test_the_task_posts_a_sample_with_the_bearer_token(propagator_settings, receiver):
    result = propagate.run()
    assert result["sent"] is True and result["status"] == 200
    [request] = receiver.requests
    assert request["headers"]["Authorization"] == "Bearer evs_sometoken_secret"
    assert request["headers"]["Content-Type"] == "application/json"
    event = json.loads(request["body"])
    samples = {(s["event_type"], json.dumps(s["event_payload"], sort_keys=True)) for s in propagator_samples()}
    assert (event["event_type"], json.dumps(event["event_payload"], sort_keys=True)) in samples
    assert event["idempotency_key"].startswith("propagator-") and event["occurred_at"]


def test_events_are_generated_when_there_are_no_samples(propagator_settings, receiver, tmp_path):
    propagator_settings.PROPAGATOR_SAMPLES_PATH = tmp_path / "missing.json"
    propagator_settings.PROPAGATOR_BATCH_SIZE = 3
    propagate.run()
    batch = json.loads(receiver.requests[0]["body"])
    assert len(batch) == 3 and all(e["event_payload"]["source"] == "eventsys-propagator" for e in batch)


def test_a_transient_failure_resends_the_same_body(propagator_settings, receiver, monkeypatch):
    receiver.responses = [(503, {}, b"busy")]
    retried = []
    monkeypatch.setattr(propagate, "retry", lambda **kw: retried.append(kw) or RuntimeError("retry"))
    with pytest.raises(RuntimeError):
        propagate.run()
    body = retried[0]["kwargs"]["body"]
    assert propagate.run(body=body)["sent"] is True
    first, second = (json.loads(r["body"]) for r in receiver.requests)
    assert first == second == body  # same idempotency key: an eventsys receiver stores it once


def test_a_private_destination_is_refused_unless_allowed(propagator_settings, receiver):
    propagator_settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    result = propagate.run()
    assert (result["sent"] is False and "private" in result["error"]) or "loopback" in result["error"]
    assert receiver.requests == []


def test_the_command_sends_every_n_seconds_and_prints_each_response(receiver, capsys):
    started = time.monotonic()
    call_command("propagate", "--url", receiver.url, "--token", "t0k", "--every", "0.3", "--count", "3")
    elapsed = time.monotonic() - started
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(" 200 " in line and line.endswith("ok") for line in lines)
    assert len(receiver.requests) == 3 and elapsed >= 0.6
    assert all(r["headers"]["Authorization"] == "Bearer t0k" for r in receiver.requests)


@pytest.mark.django_db
def test_the_beat_entry_exists_disabled_for_the_admin_to_switch_on(settings):
    entry = PeriodicTask.objects.get(name="events.propagate")
    assert entry.task == "events.propagate" and entry.enabled is False
    assert (entry.interval.every, entry.interval.period) == (settings.PROPAGATOR_INTERVAL_SECONDS, "seconds")


def test_settings_switch_the_entry_on_and_re_time_it(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}},
        "DATA_DIR": str(tmp_path),
        "PROPAGATOR_ENABLED": "true",
        "PROPAGATOR_INTERVAL_SECONDS": "7",
    }
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "e = settings.CELERY_BEAT_SCHEDULE['events.propagate']; print(e['enabled'], e['schedule'].total_seconds())"
    )
    env["DJANGO_SETTINGS_MODULE"] = "eventsys.settings"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "7.0"]


@pytest.mark.django_db(transaction=True)
def test_pointed_at_our_own_ingest_endpoint_it_works_end_to_end(live_server, settings, alice):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    _, token = api_token_create(user=alice, name="propagator")
    url = f"{live_server.url}/api/v1/ingest/"
    body = propagator_batch(count=2)
    outcome = propagator_send(url=url, token=token, body=body)
    assert outcome.status_code == 201, outcome.response_excerpt
    assert IngestedEvent.objects.filter(owner=alice).count() == 2
    again = propagator_send(url=url, token=token, body=body)  # a resend is recognised
    assert again.status_code == 200 and IngestedEvent.objects.count() == 2
