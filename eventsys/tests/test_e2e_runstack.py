"""The processes of `make run` (web, worker, beat) start, reach readiness and stop on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
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


def test_web_worker_and_beat_reach_ready_and_stop_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env.update({"DATA_DIR": str(tmp_path), "HEARTBEAT_SECONDS": "1", "DEBUG": "true", "PYTHONUNBUFFERED": "1"})
    log = (tmp_path / "runstack.log").open("w+")
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
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        status, body = None, {}
        while time.monotonic() < deadline and launcher.poll() is None:
            try:
                status, body = _request(f"{base}/api/ready/")
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        log.seek(0)
        assert status == 200, f"never ready: {body}\n{log.read()[-4000:]}"
        assert body["checks"]["database"]["detail"] == "sqlite"
        assert body["checks"]["broker"]["detail"] == "filesystem"

        # The quickstart from README: register, then log in.
        created, _ = _request(
            f"{base}/api/v1/auth/register/", {"username": "newcomer", "password": "a-Strong-passw0rd"}
        )
        assert created == 201
        logged_in, tokens = _request(
            f"{base}/api/v1/auth/token/", {"username": "newcomer", "password": "a-Strong-passw0rd"}
        )
        assert logged_in == 200 and tokens["access"]
        assert len(_processes_with_data_dir(tmp_path)) >= 4  # launcher, gunicorn, worker, beat (+ their children)
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            launcher.wait(timeout=40)
        except subprocess.TimeoutExpired:
            launcher.kill()
            raise
        finally:
            log.close()
    assert launcher.returncode == 0, (tmp_path / "runstack.log").read_text()[-4000:]
    deadline = time.monotonic() + 10
    while _processes_with_data_dir(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_with_data_dir(tmp_path) == []
