"""What the benchmarks share: a fresh PostgreSQL database, the web server's environment, free ports, and
the trigger engine's processes (beat, celery workers) with a webhook sink for bench/dispatch*."""

import asyncio
import contextlib
import gc
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# eventsys's URLs plus the bare DRF views the API is compared with (bench/baselines/): give it to gunicorn
BASELINES_SETTINGS = "bench.baselines.settings"
BENCH_SECRET_KEY = "bench-only-secret-key-never-used-outside-bench"  # >= 32 bytes: JWT's HMAC wants that many


def recreate_database(url: str, *, template: str | None = None) -> None:
    """Drop and create the database `url` names, then apply the migrations to it; with `template` (the
    name of a migrated database nobody is connected to) copy that instead, which takes a moment, not seconds."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        name = sql.Identifier(parts.path.lstrip("/"))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        if template:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(name, sql.Identifier(template)))
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
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
        SECRET_KEY=BENCH_SECRET_KEY,
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
def gunicorn(env: dict[str, str], *, workers: int, threads: int, log: Path | None = None) -> Iterator[int]:
    """Run eventsys under gunicorn as deployed (ROOT/gunicorn.conf.py: gthread, keep-alive) with this many
    workers and threads on a free port; yields the port, stops it afterwards. Its output goes to `log`, if given."""
    port = free_port()
    with open(log or os.devnull, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        wait_for_port(port)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def _exchange(reader, writer, path: str, token: str, body) -> tuple[int, bool]:
    """One request on an open connection: (status, whether the server closes the connection). `body` is
    the JSON bytes to POST to `path`, or a request of its own: (method, path, JSON bytes or None); an
    empty `token` sends no Authorization header."""
    method = "POST"
    if isinstance(body, tuple):
        method, path, body = body
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
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
    return status, closing


async def _keep_alive_client(
    port: int, path: str, token: str, connection, work: asyncio.Queue, due, latencies, statuses, outcomes=None
):
    """Send (index, body) pairs from `work` over one open keep-alive connection until it is empty. With
    `due` (index -> perf_counter time) a request waits for its time and its latency runs from then.
    With `outcomes` (a list) each request adds (index, status, sent, answered; epoch s) to it, and a
    connection that breaks mid-request counts as status 0 and is opened again instead of ending the run."""
    reader, writer = connection
    try:
        while not work.empty():
            index, body = work.get_nowait()
            started = time.perf_counter()
            if due is not None:
                if (wait := due(index) - started) > 0:
                    await asyncio.sleep(wait)
                started = due(index)
            sent = time.time()
            try:
                status, closing = await _exchange(reader, writer, path, token, body)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                if outcomes is None:
                    raise
                status, closing = 0, True
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if outcomes is not None:
                outcomes.append((index, status, sent, time.time()))
            if closing:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def post_all(
    port: int,
    path: str,
    token: str,
    bodies: list[bytes],
    clients: int,
    *,
    rate: float | None = None,
    outcomes: list | None = None,
) -> tuple[float, list[float], dict]:
    """POST every body over `clients` keep-alive connections: (seconds, sorted latencies, statuses). A body
    may also be a request of its own, (method, path, JSON bytes or None); an empty `token` sends none.

    Without `rate` the load is closed: each client sends its next request as soon as it has an answer,
    which measures the most the server can do (and latency = clients / throughput, by Little's law).
    With `rate` (requests per second) it is open: body i is due at start + i / rate, the next free
    client sends it then, and its latency runs from when it was due, so a stalled server also charges
    the requests queued behind it (no coordinated omission). That is the latency at a given load.
    With `outcomes` (a list) every request's (index, status, sent, answered) is added to it (faults/).
    """

    async def run():
        work: asyncio.Queue = asyncio.Queue()
        for item in enumerate(bodies):
            work.put_nowait(item)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        # connected before the clock starts: the measurement is of requests, not of TCP handshakes
        connections = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(clients)))
        started = time.perf_counter()
        due = (lambda index: started + index / rate) if rate else None
        await asyncio.gather(
            *(
                _keep_alive_client(port, path, token, conn, work, due, latencies, statuses, outcomes)
                for conn in connections
            )
        )
        return time.perf_counter() - started, sorted(latencies), statuses

    # The load generator's own garbage collection must not stall its event loop mid-measurement (this
    # process holds Django and every body): collect now, then not until the run is over, as timeit does.
    gc.collect()
    gc.disable()
    try:
        return asyncio.run(run())
    finally:
        gc.enable()


def p99(latencies: list[float]) -> float:
    """The nearest-rank 99th percentile (see percentile)."""
    return percentile(latencies, 0.99)


# --- The trigger engine's processes and a webhook sink (bench/dispatch, bench/dispatch_steady) --------------------

CONCURRENCY = {"threads": 8, "prefork": 4}  # per delivery worker process


def engine_env(data_dir: str, *, database_url: str, broker_url: str) -> dict[str, str]:
    """The processes' environment; an exported DJANGO_SETTINGS_MODULE (a what-if variant) is kept."""
    env = {"DJANGO_SETTINGS_MODULE": "eventsys.settings", **os.environ, "DATA_DIR": data_dir}
    env |= {"DEBUG": "false", "SECRET_KEY": BENCH_SECRET_KEY}  # as deployed: no query log, no debug pages
    env |= {"DATABASE_URL": database_url, "CELERY_BROKER_URL": broker_url}
    return env | {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true"}


def engine_setup(log_prefix: str, *, database_url: str, broker_url: str) -> tuple[Path, dict[str, str]]:
    """A log directory and the processes' environment (this process's too), a fresh migrated database and
    an empty broker db. From here on SIGTERM unwinds like Ctrl-C, so the caller's clean-up stops the processes."""
    import redis

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    log_dir = Path(tempfile.mkdtemp(prefix=log_prefix))
    env = engine_env(str(log_dir), database_url=database_url, broker_url=broker_url)
    os.environ.update(env)
    recreate_database(database_url)
    redis.Redis.from_url(broker_url).flushdb()
    return log_dir, env


def sink_main(conn) -> None:
    """The webhook target, in its own process: answers 200 "ok", records (delivery id, receive time)."""
    records: list[tuple[str, float]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do (every answer has a Content-Length)

        def do_POST(self):
            received = time.time()
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            records.append((self.headers.get("X-Eventsys-Delivery", ""), received))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads, request_queue_size = True, 256  # the default backlog (5) drops concurrent connects

        def handle_error(self, request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed worker's kept-alive connection
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send(server.server_port)
    conn.recv()  # the stop request
    server.shutdown()
    conn.send(records)


class WebhookSink:
    """The running sink process, seen from the bench."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self._port: int | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            self._port = self._conn.recv()  # sent once the sink listens
        return f"http://127.0.0.1:{self._port}/hook"

    def records(self) -> list[tuple[str, float]]:
        """Stop the sink: (X-Eventsys-Delivery, receive time in epoch s) of every request it answered."""
        self._conn.send("stop")
        return self._conn.recv()


@contextmanager
def webhook_sink() -> Iterator[WebhookSink]:
    """The sink in a spawned process, so that serving requests takes no CPU time from the bench's own."""
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    process = context.Process(target=sink_main, args=(child_conn,), daemon=True)
    process.start()
    try:
        yield WebhookSink(conn)
    finally:
        process.terminate()


def spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> tuple[str, subprocess.Popen]:
    """A celery process in its own session, so that stopping it also stops its pool children."""
    with open(log_dir / f"{name}.log", "wb") as log:
        command = [sys.executable, "-m", "celery", "-A", "eventsys", *args, "--loglevel", "INFO"]
        return name, subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)


def stop(processes: list[tuple[str, subprocess.Popen]], grace: float = 15) -> None:
    """SIGTERM (warm shutdown), then SIGKILL whatever is left after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for _, process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
        deadline = time.monotonic() + grace
        for _, process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(deadline - time.monotonic(), 0.1))
        if all(process.poll() is not None for _, process in processes):
            return


def check_alive(processes, log_dir: Path) -> None:
    for name, process in processes:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_dir / name}.log")


def wait_ready(processes, log_dir: Path, timeout: float = 60, *, beat_needed: bool = True) -> None:
    """Every worker is ready and, with `beat_needed`, one has run a triggers.dispatch sent by beat (a process
    named *beat* is a beat)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(processes, log_dir)
        logs = [(log_dir / f"{name}.log").read_text(errors="replace") for name, _ in processes if "beat" not in name]
        dispatched = not beat_needed or any("triggers.dispatch[" in text for text in logs)
        if logs and all(" ready." in text for text in logs) and dispatched:
            return
        time.sleep(0.2)
    raise RuntimeError(f"workers or beat not ready within {timeout} s; see {log_dir}")


def start_engine(
    processes: list, env: dict[str, str], log_dir: Path, *, pool: str = "threads", dispatcher: str = "dedicated"
) -> None:
    """Beat, the dispatcher and 2 delivery workers, added to `processes` as each starts (so that the caller's
    stop() reaches them all); returns once they are ready.

    dispatcher "dedicated": a worker of its own (-Q system, solo pool) runs dispatch and the delivery workers
    consume only the default queue; "shared": the 2 workers run everything.
    """
    processes.append(spawn("beat", ["beat"], env, log_dir))
    delivery_queues = []
    if dispatcher == "dedicated":
        # The topology: a dispatcher process of its own, so delivery threads never hold its GIL.
        command = ["worker", "-n", "bench-dispatch@%h", "-Q", "system", "--pool", "solo"]
        processes.append(spawn("worker-dispatch", command, env, log_dir))
        delivery_queues = ["-Q", "celery"]
    for i in (1, 2):
        options = ["--pool", pool, "--concurrency", str(CONCURRENCY[pool]), *delivery_queues]
        processes.append(spawn(f"worker{i}", ["worker", "-n", f"bench{i}@%h", *options], env, log_dir))
    wait_ready(processes, log_dir)


@contextmanager
def beat(name: str, env: dict[str, str], log_dir: Path) -> Iterator[list]:
    """A beat of its own (a naive baseline's), stopped on the way out; yields it for check_alive()."""
    processes = [spawn(name, ["beat"], env, log_dir)]
    try:
        yield processes
    finally:
        stop(processes)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..1); NaN for no values."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p * len(ordered)) - 1, 0)] if ordered else math.nan


def machine_description() -> str:
    """One line naming the machine a figure was measured on: CPU model, cores, memory, PostgreSQL."""
    import platform

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    system = f"{platform.system()} {platform.release()}"
    return f"machine: {platform.node()}, {cpu}, {os.cpu_count()} cores{memory}, {system}"


def percentile_text(values: list[float], ps=(0.5, 0.99, 1.0), spec: str = ".0f") -> str:
    """p50 / p99 / max (nearest rank) of `values`, or n/a."""
    return " / ".join(format(percentile(values, p), spec) for p in ps) if values else "n/a"


def add_check_argument(parser) -> None:
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target of this bench is missed")


class Targets:
    """A bench's targets, each measured beside its limit in the same run: printed as one table, and with
    --check a missed one makes the bench exit non-zero."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bool]] = []

    def add(self, target: str, measured: str, met: bool) -> bool:
        self.rows.append((target, measured, bool(met)))
        return bool(met)

    def report(self, check: bool) -> None:
        print(machine_description())
        width = max((len(target) for target, _, _ in self.rows), default=0)
        for target, measured, met in self.rows:
            print(f"{'met   ' if met else 'MISSED'} {target:<{width}}  {measured}")
        if check and not all(met for _, _, met in self.rows):
            print("--check: a target was missed", file=sys.stderr)
            sys.exit(1)


def ratio(value: float | None, limit: float | None) -> str:
    return f"{value / limit:.0%}" if value is not None and limit else "n/a"


class RowWatcher:
    """When a reader first sees each row of a table (epoch s), polled on its own connection: the moment a
    write is committed and visible, which is what lateness is measured to. A row is seen up to one poll
    interval (and a query) after its commit; call poll() every interval or so."""

    def __init__(self, database_url: str, table: str) -> None:
        import psycopg

        self._conn = psycopg.connect(database_url, autocommit=True)
        self._query = f"SELECT id FROM {table} WHERE id > %s"
        self.seen: dict[int, float] = {}
        self._floor = 0  # every id up to here is seen (ids come from one sequence, committed out of order)

    def poll(self) -> int:
        ids = [row[0] for row in self._conn.execute(self._query, (self._floor,))]
        now = time.time()
        for pk in ids:
            self.seen.setdefault(pk, now)
        while self._floor + 1 in self.seen:
            self._floor += 1
        return len(self.seen)

    def close(self) -> None:
        self._conn.close()


def bare_publish(broker_url: str, n: int, queue: str = "bare") -> float:
    """Seconds for one process to publish N small task messages to the broker with Celery's own
    send_task (no database, no consumer): the limit an engine that enqueues N deliveries is held to."""
    import redis
    from celery import Celery

    app = Celery("bare", broker=broker_url)
    with app.producer_or_acquire() as producer:
        app.send_task("bench.bare", args=[0], queue=queue, producer=producer)  # connect, declare
        started = time.perf_counter()
        for i in range(n):
            app.send_task("bench.bare", args=[i], queue=queue, producer=producer)
        elapsed = time.perf_counter() - started
    redis.Redis.from_url(broker_url).delete(queue)
    return elapsed
