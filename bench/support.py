"""What the benchmarks share: a fresh PostgreSQL database, the web server's environment, free ports."""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int, threads: int) -> Iterator[int]:
    """Run eventsys under gunicorn (gthread) on a free port; yields the port, stops it afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "eventsys.wsgi:application", "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
            "--keep-alive", "30", "--backlog", "2048",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _keep_alive_client(port: int, path: str, token: str, bodies: asyncio.Queue, latencies: list, statuses: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while not bodies.empty():
            body = bodies.get_nowait()
            started = time.perf_counter()
            writer.write(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
                + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            status = int((await reader.readline()).split()[1])
            length, closing = 0, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
                elif name.lower() == "connection" and value.strip().lower() == "close":
                    closing = True
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def post_all(port: int, path: str, token: str, bodies: list[bytes], clients: int) -> tuple[float, list[float], dict]:
    """POST every body over `clients` keep-alive connections: (seconds, sorted latencies, statuses)."""

    async def run():
        queue: asyncio.Queue = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        started = time.perf_counter()
        await asyncio.gather(
            *(_keep_alive_client(port, path, token, queue, latencies, statuses) for _ in range(clients))
        )
        return time.perf_counter() - started, sorted(latencies), statuses

    return asyncio.run(run())


def p99(latencies: list[float]) -> float:
    return latencies[max(int(len(latencies) * 0.99) - 1, 0)]
