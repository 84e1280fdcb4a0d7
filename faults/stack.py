"""The processes of one scenario, as deployed: a private redis-server (broker and cache), gunicorn, celery
workers and beats, the webhook receiver and a /api/ready/ probe. Everything started here is stopped on the way
out of `running_stack`, on an exception, Ctrl-C or SIGTERM alike.

Each process connects to PostgreSQL with its own `application_name` (faults-web, faults-worker, faults-beat;
the suite itself is faults-suite), so that a scenario can find and kill its backends.
"""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from bench.support import (
    free_port,
    gunicorn,
    recreate_database,
    spawn,
    stop,
    wait_for_port,
    wait_ready,
    web_env,
    webhook_sink,
)
from faults.probe import ReadyProbe

DATABASE_URL = os.environ.get("FAULTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_faults")
APP_PREFIX = "faults-"
# Deliveries, dispatch and heartbeats share one worker, as `celery -A eventsys worker` deploys it;
# the dispatcher holds one slot most of each second (README), deliveries get the rest.
WORKER_OPTIONS = ["--pool", "prefork", "--concurrency", "4"]


def database_url(role: str, *, url: str = DATABASE_URL, name: str | None = None) -> str:
    """`url` with application_name=faults-<role> (and another database name, if given)."""
    parts = urlsplit(url)
    path = f"/{name}" if name else parts.path
    return urlunsplit(parts._replace(path=path, query=urlencode({"application_name": APP_PREFIX + role})))


def database_name(url: str = DATABASE_URL) -> str:
    return urlsplit(url).path.lstrip("/")


def template_name() -> str:
    return database_name() + "_template"


def prepare_template() -> None:
    """Migrate the template every scenario's database is copied from (once per run)."""
    recreate_database(database_url("suite", name=template_name()))


def fresh_database() -> None:
    """The scenario's database, a copy of the migrated template; the suite's own connection reopens on use."""
    from django.db import connections

    connections.close_all()
    recreate_database(database_url("suite"), template=template_name())


class PrivateRedis:
    """A redis-server of the scenario's own on a free port, without persistence: killing it loses every
    queued message, as a broker that dies with its memory does. It restarts on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.starts += 1
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with open(self.log_dir / f"redis-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
        wait_for_port(self.port)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; clients see their connections reset."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Stack:
    """The running processes of one scenario and the handles a scenario needs."""

    def __init__(self, log_dir: Path, redis: PrivateRedis, extra_env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.redis = redis
        self.extra_env = extra_env
        self.processes: list[tuple[str, subprocess.Popen]] = []  # every celery process started, for clean-up
        self.live: list[tuple[str, subprocess.Popen]] = []  # those expected to be running
        self.commands: dict[str, tuple[list[str], str]] = {}  # name -> (celery arguments, role)
        self.exits: list[tuple[str, int, float]] = []  # (name, exit status, when) of processes that died unasked
        self.sink = None
        self.port = 0
        self.probe: ReadyProbe | None = None

    def env(self, role: str) -> dict[str, str]:
        """The production-like environment (DEBUG off) of one kind of process."""
        env = web_env(
            database_url=database_url(role),
            data_dir=str(self.log_dir),
            CELERY_BROKER_URL=self.redis.url(0),
            CACHE_URL=self.redis.url(1),
            WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
            **self.extra_env,
        )
        # celery's " ready." and task lines are what wait_ready() reads
        return env | {"LOG_LEVEL": "INFO"} if role != "web" else env

    def celery(self, name: str, args: list[str], role: str) -> tuple[str, subprocess.Popen]:
        self.commands[name] = (args, role)
        process = spawn(name, args, self.env(role), self.log_dir)
        self.processes.append(process)
        self.live.append(process)
        return process

    def worker(self, name: str) -> tuple[str, subprocess.Popen]:
        return self.celery(name, ["worker", "-n", f"{name}@%h", *WORKER_OPTIONS], "worker")

    def beat(self, name: str) -> tuple[str, subprocess.Popen]:
        return self.celery(name, ["beat"], "beat")

    def wait_ready(self, timeout: float = 90) -> float:
        """Until every live worker says ready and one has run a dispatch sent by beat; returns that time."""
        wait_ready(self.live, self.log_dir, timeout=timeout)
        return time.time()

    def wait_ready_probe(self, timeout: float = 30) -> bool:
        """Until /api/ready/ answers 200 (the baseline before a fault), at most `timeout` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.probe.ask().status == 200:
                return True
            self.supervise()
            time.sleep(0.5)
        return False

    def kill_group(self, process: tuple[str, subprocess.Popen]) -> None:
        """kill -9 of the process's whole group (a prefork worker: the parent and every pool child)."""
        self.live.remove(process)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process[1].pid, signal.SIGKILL)
        process[1].wait()

    def supervise(self) -> None:
        """Restart every live process that exited by itself, as compose's `restart: unless-stopped` does, and
        record the exit: the scenario goes on and reports it."""
        for process in list(self.live):
            name, popen = process
            if popen.poll() is None:
                continue
            self.live.remove(process)
            self.exits.append((name, popen.returncode, time.time()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)  # pool children it left behind, if any
            args, role = self.commands[name]
            restarted = f"{name}r"
            self.celery(restarted, [f"{restarted}@%h" if arg == f"{name}@%h" else arg for arg in args], role)

    def current(self, prefix: str) -> tuple[str, subprocess.Popen]:
        """The live process whose name starts with `prefix` (a restarted one has a longer name)."""
        return next(process for process in self.live if process[0].startswith(prefix))

    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/ready/"


@contextmanager
def running_stack(
    log_dir: Path,
    *,
    workers: tuple[str, ...] = ("worker-1",),
    beats: tuple[str, ...] = ("beat",),
    web_workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """A fresh database, a private Redis, the named celery workers and beats (started, not yet waited
    for: Stack.wait_ready), the receiver, gunicorn and the ready probe; all stopped on the way out, with
    any process the scenario adds (Stack.worker / Stack.beat)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fresh_database()
    redis = PrivateRedis(log_dir)
    # Beat sends the first heartbeat one interval after it starts, and /api/ready/ is 503 until then: a
    # shorter interval than the default 10 s gets each scenario to its baseline sooner. The allowed age
    # (READY_HEARTBEAT_MAX_AGE) is unchanged, so readiness means what it means in production.
    stack = Stack(log_dir, redis, {"HEARTBEAT_SECONDS": "2", **(extra_env or {})})
    with contextlib.ExitStack() as exits:
        exits.callback(redis.kill)
        redis.start()
        # Only processes never reaped: a reaped one's pid may belong to someone else by now.
        exits.callback(lambda: stop([process for process in stack.processes if process[1].returncode is None]))
        for name in beats:
            stack.beat(name)
        for name in workers:
            stack.worker(name)
        stack.sink = exits.enter_context(webhook_sink())
        stack.port = exits.enter_context(
            gunicorn(stack.env("web"), workers=web_workers, threads=4, log=log_dir / "web.log")
        )
        stack.probe = exits.enter_context(ReadyProbe(stack.ready_url()))
        yield stack
