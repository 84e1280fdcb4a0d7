"""`make run HOST=… PORT=…`: runstack serves where it is told, and refuses a busy or bad port in one line."""

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command

from eventsys.ops.management.commands import runstack

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _listening(host: str = "127.0.0.1"):
    """A port another server listens on, held for the duration."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


def _busy_message(port: int) -> str:
    return f"Port {port} on 127.0.0.1 is in use (another eventsys?). Stop it or choose another: make run PORT="


def _press_ctrl_c(_seconds: float) -> None:
    """Stands in for the launcher's sleep between checks: Ctrl-C, through the handler it installed."""
    signal.getsignal(signal.SIGINT)(signal.SIGINT, None)


@pytest.fixture
def spawned():
    """Replaces the process starter and migrate, records what would have run, and stops at the first wait."""
    process = mock.MagicMock(spec=subprocess.Popen)
    process.poll.return_value = None
    process.wait.return_value = 0
    with (
        mock.patch.object(runstack, "_start_process", return_value=process) as start,
        mock.patch.object(runstack, "call_command") as migrate,
        mock.patch.object(runstack.time, "sleep", _press_ctrl_c),
    ):
        yield start, migrate


def _run(*args: str) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = None
    try:
        call_command("runstack", *args, stdout=out, stderr=err)
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_busy_port_is_one_line_exit_1_and_nothing_starts(spawned):
    start, migrate = spawned
    with _listening() as port:
        code, out, err = _run(f"--port={port}")
    assert code == 1
    assert err.startswith(_busy_message(port)) and err.count("\n") == 1
    assert out == ""  # nothing claims to be running
    start.assert_not_called()  # no web, worker or beat
    migrate.assert_not_called()  # checked before anything else happens


@pytest.mark.parametrize("port", ["0", "65536", "-1", "abc", "80.5", ""])
def test_bad_port_is_one_line_exit_1_and_nothing_starts(spawned, port):
    start, migrate = spawned
    code, out, err = _run(f"--port={port}")
    assert code == 1
    assert err == f"Port {port!r} is not a number from 1 to 65535; for example: make run PORT=8010\n"
    assert out == ""
    start.assert_not_called()
    migrate.assert_not_called()


def test_busy_port_on_the_command_line_exits_quickly_without_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env["DATA_DIR"] = str(tmp_path)  # if the check ever came after migrate, it would not touch data/
    with _listening() as port:
        launcher = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = launcher.communicate(timeout=30)
        finally:
            if launcher.poll() is None:  # started the stack after all: stop it (children die with it)
                launcher.kill()
                launcher.communicate()
    assert launcher.returncode == 1, (out, err)
    assert err.startswith(_busy_message(port)) and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert "running" not in out


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_host_and_port_are_what_web_binds_and_the_printed_url(spawned, host):
    start, migrate = spawned
    port = _free_port()
    original_handler = signal.getsignal(signal.SIGINT)
    code, out, err = _run(f"--host={host}", f"--port={port}")
    assert code is None, err
    assert f"eventsys is running at http://{host}:{port}/" in out
    commands = [call.args[0] for call in start.call_args_list]
    assert len(commands) == 3  # web, worker, beat
    web = next(command for command in commands if "gunicorn" in command)
    assert web[web.index("--bind") + 1] == f"{host}:{port}"
    migrate.assert_called_once()
    assert signal.getsignal(signal.SIGINT) is original_handler  # the launcher gives Ctrl-C back


def test_port_a_stopped_server_left_in_time_wait_counts_as_free():
    # The server side closes first, so its port stays in TIME_WAIT after the listener is gone: what
    # Ctrl-C on `make run` leaves behind. Linux lets a new bind share it only if both sockets set
    # SO_REUSEADDR; gunicorn's listener does, so the check must too.
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            server_side, _ = listener.accept()
            server_side.close()
            client.recv(1)
    with socket.socket() as plain:
        try:
            plain.bind(("127.0.0.1", port))
        except OSError:
            pass
        else:
            pytest.skip("this kernel left no TIME_WAIT to test against")
    runstack.check_can_listen("127.0.0.1", port)  # no AddressUnusable


def _make_run_command(*args: str, env: dict[str, str] | None = None) -> str:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    clean = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "HOST", "PORT"}}
    result = subprocess.run(
        [make, "--no-print-directory", "-n", "run", *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return next(line for line in result.stdout.splitlines() if "manage.py runstack" in line)


def test_makefile_passes_host_and_port_to_runstack():
    assert _make_run_command("PORT=8010", "HOST=0.0.0.0").endswith("runstack --host=0.0.0.0 --port=8010")
    assert _make_run_command("PORT=8010").endswith("runstack --host=127.0.0.1 --port=8010")
    assert _make_run_command().endswith("runstack --host=127.0.0.1 --port=8000")


def test_makefile_ignores_an_exported_host_and_port():
    # csh exports HOST as the machine's name; serving there by accident would expose the dev server.
    assert _make_run_command(env={"HOST": "example.invalid", "PORT": "1"}).endswith(
        "runstack --host=127.0.0.1 --port=8000"
    )
