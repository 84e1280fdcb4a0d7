"""What the benchmarks share: a fresh PostgreSQL database, the web server's environment, free ports."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recreate_database(url: str) -> None:
    """Drop and create the database `url` names, then apply the migrations to it."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


def web_env(*, database_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    """A production-like environment (DEBUG off) for gunicorn and the bench process itself."""
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "CACHE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="eventsys.settings",
        DATABASE_URL=database_url,
        DATA_DIR=data_dir,
        DEBUG="false",
        SECRET_KEY="bench-only-secret-key",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")
