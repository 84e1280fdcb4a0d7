"""`manage.py receive_webhooks`: the README tour's local receiver prints each delivery and checks its signature."""

import io
import socket
import threading
import time
import urllib.request

import pytest
from django.core.management import CommandError, call_command

from eventsys.http import sign


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, body: bytes, headers: dict) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/hook", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def wait_for_listener(port: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError("the receiver never listened")


def test_it_prints_each_delivery_and_whether_its_signature_verifies():
    port, out = free_port(), io.StringIO()
    receiver = threading.Thread(
        daemon=True,
        target=call_command,
        args=["receive_webhooks"],
        kwargs={"port": port, "secret": "s3cret", "count": 2, "stdout": out},
    )
    receiver.start()
    wait_for_listener(port)
    body, now = b'{"full": false}', int(time.time())
    good = {"X-Eventsys-Delivery": "d-1", "X-Eventsys-Timestamp": str(now), "Content-Type": "application/json"}
    good["X-Eventsys-Signature"] = sign("s3cret", delivery_id="d-1", timestamp=now, body=body)
    forged = {**good, "X-Eventsys-Delivery": "d-2", "X-Eventsys-Signature": "v1=" + "0" * 64}

    assert post(port, body, good) == 204
    assert post(port, body, forged) == 204
    receiver.join(timeout=5)

    lines = out.getvalue().splitlines()
    assert lines[1:] == ['delivery d-1: signature ok: {"full": false}', 'delivery d-2: signature BAD: {"full": false}']
    assert not receiver.is_alive()


def test_a_busy_port_is_one_clear_error():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(CommandError, match=r"cannot listen on 127\.0\.0\.1:\d+"):
            call_command("receive_webhooks", port=holder.getsockname()[1], count=1)
