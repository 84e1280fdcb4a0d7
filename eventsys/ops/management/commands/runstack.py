"""`manage.py runstack`: migrate, then run web (gunicorn), a Celery worker and Celery beat together.

This is what `make run` calls (`make run HOST=0.0.0.0 PORT=8010` passes --host and --port). Before
anything starts it checks that it can listen on HOST:PORT, so a busy port is one line, not five
gunicorn tracebacks. Ctrl-C (SIGINT) or SIGTERM stops all three; if one of them dies, the others
are stopped too and the command exits non-zero.
"""

import contextlib
import ctypes
import errno
import ipaddress
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 20


class AddressUnusable(Exception):
    """HOST:PORT cannot be served; the message is the whole explanation, shown as one line."""


def parse_port(value: str) -> int:
    """The port as an int, or AddressUnusable unless it is a whole number from 1 to 65535."""
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise AddressUnusable(f"Port {value!r} is not a number from 1 to 65535; for example: make run PORT=8010")
    return port


def _is_ipv6(host: str) -> bool:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).version == 6
    return False


def check_can_listen(host: str, port: int) -> None:
    """Bind HOST:PORT as gunicorn will, then release it; AddressUnusable if that fails.

    With SO_REUSEADDR, as gunicorn sets it: a port left in TIME_WAIT by a stopped server is free, one
    that another process listens on is not.
    """
    if not host:
        raise AddressUnusable("HOST is empty; for example: make run HOST=127.0.0.1 (this machine only)")
    family = socket.AF_INET6 if _is_ipv6(host) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except socket.gaierror:
        raise AddressUnusable(f"Host {host!r} is not a name or address this machine can resolve") from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            message = (
                f"Port {port} on {host} is in use (another eventsys?). "
                f"Stop it or choose another: make run PORT={port + 10 if port <= 65525 else 8010}"
            )
        elif error.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own"
        elif error.errno == errno.EACCES:
            message = f"Not allowed to listen on port {port} on {host} (ports below 1024 need root); choose another"
        else:
            message = f"Cannot listen on port {port} on {host}: {error.strerror}"
        raise AddressUnusable(message) from None


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if _is_ipv6(host) else f"http://{host}:{port}/"


def _start_process(command: list[str]) -> subprocess.Popen:
    # Own session: a terminal's Ctrl-C reaches only this launcher, which stops the children in
    # order instead of all three racing to shut down at once.
    return subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this launcher dies, even by SIGKILL, so nothing is orphaned."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run web, worker and beat together on this machine; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on; 0.0.0.0 for every interface")
        # Checked in handle(), not by argparse, so a bad value is one line instead of usage plus error.
        parser.add_argument("--port", default="8000", help="port to serve on, 1-65535")
        parser.add_argument("--web-workers", type=int, default=2)
        # One slot is mostly the dispatcher's (it sleeps until each due slot); two deliver.
        parser.add_argument("--worker-concurrency", type=int, default=3)
        parser.add_argument("--skip-migrate", action="store_true")

    def handle(self, *args, **options):
        host = options["host"]
        try:
            port = parse_port(options["port"])
            check_can_listen(host, port)
        except AddressUnusable as error:
            self.stderr.write(str(error))
            sys.exit(1)
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        python = sys.executable
        bind = f"[{host}]:{port}" if _is_ipv6(host) else f"{host}:{port}"
        commands = {
            "web": [
                python,
                "-m",
                "gunicorn",
                "--config",  # gthread workers with keep-alive, as everywhere else
                str(settings.BASE_DIR / "gunicorn.conf.py"),
                "--bind",
                bind,
                "--workers",
                str(options["web_workers"]),
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "eventsys",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["worker_concurrency"]),
            ],
            "beat": [python, "-m", "celery", "-A", "eventsys", "beat", "--loglevel", "INFO"],
        }
        stop_requested = []
        previous_handlers = {
            signum: signal.signal(signum, lambda *_: stop_requested.append(True))
            for signum in (signal.SIGINT, signal.SIGTERM)
        }

        processes: dict[str, subprocess.Popen] = {}
        exit_code = 0
        try:
            for name, command in commands.items():
                processes[name] = _start_process(command)
            self.stdout.write(
                self.style.SUCCESS(f"eventsys is running at {_url(host, port)}  (API docs: /api/docs/, admin: /admin/)")
            )
            if host in ("0.0.0.0", "::"):
                self.stdout.write(
                    f"That is every interface: from this machine use {_url('127.0.0.1', port)}; "
                    "other machines need the name they use in ALLOWED_HOSTS."
                )
            self.stdout.write("Press Ctrl-C to stop web, worker and beat.")
            self.stdout.flush()
            while not stop_requested:
                dead = [name for name, process in processes.items() if process.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} exited unexpectedly; stopping the rest.")
                    exit_code = 1
                    break
                time.sleep(0.5)
        finally:
            self._stop(processes)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        if exit_code:
            sys.exit(exit_code)
        self.stdout.write("Stopped.")

    def _stop(self, processes: dict[str, subprocess.Popen]) -> None:
        # Beat first (no new work is scheduled), then web, then the worker (finishes its task).
        for name in ("beat", "web", "worker"):
            process = processes.get(name)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
