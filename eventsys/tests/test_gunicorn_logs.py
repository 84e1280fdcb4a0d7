"""With LOG_FORMAT=json, everything real gunicorn writes (its own start-up and access lines, Django's
records from the workers) is one JSON object per line, on the streams it writes to without it."""

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
GUNICORN = Path(sys.executable).with_name("gunicorn")


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    """A migrated SQLite database of its own and the defaults for everything else, LOG_FORMAT=json."""
    data_dir = tmp_path_factory.mktemp("gunicorn")
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(
        DJANGO_SETTINGS_MODULE="eventsys.settings",
        DATA_DIR=str(data_dir),
        DATABASE_URL=f"sqlite:///{data_dir / 'db.sqlite3'}",
        LOG_FORMAT="json",
        WEB_CONCURRENCY="1",
        HOME=str(data_dir),  # gunicorn's control socket (~/.gunicorn/) apart from any other gunicorn's
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(environment: dict[str, str], tmp_path: Path, *arguments: str, paths=("/", "/no-such-page/")):
    """Run gunicorn (gunicorn.conf.py, as deployed), request `paths`, stop it (SIGTERM): its stdout and
    stderr lines, and the statuses answered."""
    port = _free_port()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [str(GUNICORN), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", *arguments],
            cwd=ROOT,
            env=environment,
            stdout=stdout,
            stderr=stderr,
        )
    statuses = []
    try:
        _wait_for(port, server)
        for path in paths:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return out.read_text().splitlines(), err.read_text().splitlines(), statuses


def _wait_for(port: int, server: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited at start-up"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"gunicorn did not listen on {port} within {timeout} s")


def _parsed(lines: list[str]) -> list[dict]:
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return records


def test_with_the_access_log_on_every_line_is_json(environment, tmp_path):
    stdout, stderr, statuses = _serve(environment, tmp_path, "--access-logfile", "-")  # as the Dockerfile runs it

    assert statuses == [200, 404]
    errors, access = _parsed(stderr), _parsed(stdout)
    for start in ("Starting gunicorn", "Listening at", "Booting worker", "Shutting down: Master"):
        assert any(record["message"].startswith(start) for record in errors), start
    assert all(record["logger"] == "gunicorn.error" or record["logger"].startswith("django") for record in errors)
    assert any(record["logger"] == "django.request" and record["level"] == "WARNING" for record in errors)  # the 404
    assert [(r["logger"], r["method"], r["path"], r["status"]) for r in access] == [
        ("gunicorn.access", "GET", "/", 200),
        ("gunicorn.access", "GET", "/no-such-page/", 404),
    ]
    assert all(isinstance(record["duration_ms"], int) and record["remote_addr"] == "127.0.0.1" for record in access)
    assert access[0]["message"].startswith('127.0.0.1 "GET / HTTP/1.1" 200 ')


def test_without_an_access_log_none_is_switched_on(environment, tmp_path):
    stdout, stderr, statuses = _serve(environment, tmp_path)

    assert statuses == [200, 404]
    assert stdout == []
    assert not any(record["logger"] == "gunicorn.access" for record in _parsed(stderr))
