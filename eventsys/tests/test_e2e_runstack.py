"""The processes of `make run` (web, worker, beat) start, reach readiness, do real work and stop on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventsys.http import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
PASSWORD = "a-Strong-passw0rd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _processes_with_data_dir(data_dir: Path) -> list[int]:
    marker = f"DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class Stack:
    base: str
    launcher: subprocess.Popen
    data_dir: Path
    log_path: Path

    def log_tail(self) -> str:
        return self.log_path.read_text()[-4000:]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("stack")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "HEARTBEAT_SECONDS": "1",
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        }
    )
    log_path = data_dir / "runstack.log"
    with log_path.open("w") as log:
        launcher = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runstack",
                "--port",
                str(port),
                "--web-workers",
                "1",
                "--worker-concurrency",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Stack(f"http://127.0.0.1:{port}", launcher, data_dir, log_path)
    yield running
    if launcher.poll() is None:
        launcher.kill()
        launcher.wait()


def test_web_worker_and_beat_reach_ready(stack):
    deadline = time.monotonic() + 90
    status, body = None, {}
    while time.monotonic() < deadline and stack.launcher.poll() is None:
        try:
            status, body = _request(f"{stack.base}/api/ready/")
        except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
            status = None
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, f"never ready: {body}\n{stack.log_tail()}"
    assert body["checks"]["database"]["detail"] == "sqlite"
    assert body["checks"]["broker"]["detail"] == "filesystem"

    # The quickstart from README: register, then log in.
    created, _ = _request(f"{stack.base}/api/v1/auth/register/", {"username": "newcomer", "password": PASSWORD})
    assert created == 201
    logged_in, tokens = _request(f"{stack.base}/api/v1/auth/token/", {"username": "newcomer", "password": PASSWORD})
    assert logged_in == 200 and tokens["access"]


def test_an_interval_trigger_posts_signed_webhooks_through_beat_and_worker(stack, receiver):
    _, tokens = _request(f"{stack.base}/api/v1/auth/token/", {"username": "newcomer", "password": PASSWORD})
    start = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    status, trigger = _request(
        f"{stack.base}/api/v1/triggers/",
        {
            "name": "every second",
            "trigger_type": "api",
            "schedule_time": start,
            "is_recurring": True,
            "interval": 1,
            "interval_unit": "seconds",
            "api_endpoint": receiver.url,
            "api_payload": {"ping": True},
        },
        token=tokens["access"],
    )
    assert status == 201, trigger
    deadline = time.monotonic() + 45
    while len(receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.requests) >= 2, stack.log_tail()
    delivery_ids = set()
    for request in receiver.requests[:2]:
        headers = request["headers"]
        assert json.loads(request["body"]) == {"ping": True}
        assert verify_signature(
            trigger["signing_secret"],
            delivery_id=headers[DELIVERY_HEADER],
            timestamp=int(headers[TIMESTAMP_HEADER]),
            body=request["body"],
            signature=headers[SIGNATURE_HEADER],
            now=int(time.time()),
        )
        delivery_ids.add(headers[DELIVERY_HEADER])
    assert len(delivery_ids) == 2  # two slots, two deliveries
    status, _ = _request(f"{stack.base}/api/v1/triggers/{trigger['id']}/pause/", {}, token=tokens["access"])
    assert status == 200


def test_ctrl_c_stops_web_worker_and_beat(stack):
    assert len(_processes_with_data_dir(stack.data_dir)) >= 4  # launcher, gunicorn, worker, beat (+ children)
    stack.launcher.send_signal(signal.SIGINT)
    stack.launcher.wait(timeout=40)
    assert stack.launcher.returncode == 0, stack.log_tail()
    deadline = time.monotonic() + 10
    while _processes_with_data_dir(stack.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with_data_dir(stack.data_dir) == []
