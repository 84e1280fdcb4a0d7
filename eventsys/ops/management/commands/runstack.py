"""`manage.py runstack`: migrate, then run web (gunicorn), a Celery worker and Celery beat together.

This is what `make run` calls. Ctrl-C (SIGINT) or SIGTERM stops all three; if one of them dies,
the others are stopped too and the command exits non-zero.
"""

import contextlib
import ctypes
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

_PR_SET_PDEATHSIG = 1
_STOP_GRACE_SECONDS = 20


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if this launcher dies, even by SIGKILL, so nothing is orphaned."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run web, worker and beat together on this machine; Ctrl-C stops all three."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web-workers", type=int, default=2)
        # One slot is mostly the dispatcher's (it sleeps until each due slot); two deliver.
        parser.add_argument("--worker-concurrency", type=int, default=3)
        parser.add_argument("--skip-migrate", action="store_true")

    def handle(self, *args, **options):
        if not options["skip_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        python = sys.executable
        bind = f"{options['host']}:{options['port']}"
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
        signal.signal(signal.SIGINT, lambda *_: stop_requested.append(True))
        signal.signal(signal.SIGTERM, lambda *_: stop_requested.append(True))

        processes: dict[str, subprocess.Popen] = {}
        exit_code = 0
        try:
            for name, command in commands.items():
                # Own session: a terminal's Ctrl-C reaches only this launcher, which stops the
                # children in order instead of all three racing to shut down at once.
                processes[name] = subprocess.Popen(command, start_new_session=True, preexec_fn=_die_with_parent)
            self.stdout.write(
                self.style.SUCCESS(f"eventsys is running at http://{bind}/  (API docs: /api/docs/, admin: /admin/)")
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
