"""eventsys.http keep-alive: connections reused per thread, still checked on every request, against real
HTTP/1.1 servers on the loopback interface that count the connections they accept."""

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import certifi
import pytest

from eventsys import http
from eventsys.http import REDACTED, close_idle_connections, get_json, is_secret_header, post_json


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.timeout = self.server.spec["idle_timeout"]  # the server closes a connection idle this long
        self.protocol_version = self.server.spec["protocol"]
        super().setup()

    def _serve(self):
        server, spec = self.server, self.server.spec
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        server.requests.append({"port": self.client_address[1], "headers": self.headers.items(), "body": body})
        time.sleep(spec["delay"])
        self.send_response(spec["status"])
        for name, value in spec["headers"].items():
            self.send_header(name, value)
        if spec["chunked"]:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(spec["body"]), spec["body"]))
        else:
            if spec["status"] != 204:
                self.send_header("Content-Length", str(len(spec["body"])))
            self.end_headers()
            self.wfile.write(spec["body"])
        # "hang_up": close after the response without having said so; "keep_open": say close, don't.
        self.close_connection = spec["hang_up"] or (self.close_connection and not spec["keep_open"])

    do_GET = do_POST = _serve

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, address):
        self.connections, self.requests, self.closed = [], [], 0
        self.changed = threading.Condition()
        self.respond()
        super().__init__(address, _Handler)

    def respond(self, status=200, body=b'{"ok": true}', headers=None, delay=0.0, **options):
        self.spec = {"status": status, "body": body, "headers": headers or {}, "delay": delay}
        self.spec |= {
            "idle_timeout": None,
            "chunked": False,
            "hang_up": False,
            "keep_open": False,
            "protocol": "HTTP/1.1",
        } | options

    def get_request(self):
        sock, address = super().get_request()
        self.connections.append(address[1])  # client port: one per connection accepted
        return sock, address

    def shutdown_request(self, request):
        super().shutdown_request(request)
        with self.changed:
            self.closed += 1
            self.changed.notify_all()

    def wait_closed(self, count):
        """Until the server has closed ``count`` connections (its FIN is then on its way)."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.closed >= count, timeout=5)

    def handle_error(self, request, client_address):
        pass  # the client hangs up on purpose (timeouts, the response cap)

    @property
    def port(self):
        return self.server_address[1]

    def url(self, path="/hook", host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"


def _start(address=("127.0.0.1", 0)):
    server = _Server(address)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True).start()
    return server


def _stop(server):
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def fresh_pool():
    close_idle_connections()
    yield
    close_idle_connections()


@pytest.fixture
def server():
    server = _start()
    yield server
    _stop(server)


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_KEEPALIVE_SECONDS = 30
    return settings


@pytest.fixture
def resolver(monkeypatch):
    """DNS for made-up names: set ``answers[name]`` to the addresses a lookup gives now."""
    answers = {}
    real = http._resolve
    monkeypatch.setattr(http, "_resolve", lambda host, port: answers[host] if host in answers else real(host, port))
    return answers


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(http, "_clock", lambda: now[0])
    return now


# --- reuse --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body"), [(200, b'{"ok": true}'), (204, b"")])
def test_twenty_posts_to_a_keep_alive_server_use_one_connection(server, allow_private, status, body):
    server.respond(status, body)
    outcomes = [post_json(server.url(), b'{"n": %d}' % n) for n in range(20)]
    assert all(outcome.delivered for outcome in outcomes)
    assert [outcome.reused_connection for outcome in outcomes] == [False] + [True] * 19
    assert len(server.connections) == 1
    assert [request["body"] for request in server.requests] == [b'{"n": %d}' % n for n in range(20)]


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="delayed acknowledgements are tuned on Linux only")
def test_a_receiver_writing_headers_and_body_apart_is_not_slowed_by_delayed_acks(server, allow_private):
    # The test server writes the headers, then the body, with Nagle's algorithm on (http.server's default).
    assert post_json(server.url(), b"{}").delivered
    started = time.monotonic()
    outcomes = [post_json(server.url(), b"{}") for _ in range(20)]
    assert all(outcome.reused_connection for outcome in outcomes)
    assert time.monotonic() - started < 0.4  # 40 ms each with delayed acknowledgements


def test_chunked_responses_and_get_json_reuse_the_connection(server, allow_private):
    server.respond(200, b'{"price": 1}', chunked=True)
    for _ in range(3):
        outcome, data = get_json(server.url())
        assert (outcome.kind, data) == ("delivered", {"price": 1})
    assert post_json(server.url(), b"{}").reused_connection
    assert len(server.connections) == 1 and len(server.requests) == 4


def test_connection_close_gets_a_new_connection_each_time(server, allow_private):
    server.respond(headers={"Connection": "close"}, keep_open=True)  # says close, then would serve more
    outcomes = [post_json(server.url(), b"{}") for _ in range(5)]
    assert all(outcome.delivered and not outcome.reused_connection for outcome in outcomes)
    assert len(server.connections) == 5 and len(server.requests) == 5


def test_an_http_1_0_keep_alive_is_not_taken_up(server, allow_private):
    server.respond(headers={"Connection": "keep-alive"}, protocol="HTTP/1.0")  # and keeps it open
    outcomes = [post_json(server.url(), b"{}") for _ in range(3)]
    assert all(outcome.delivered and not outcome.reused_connection for outcome in outcomes)
    assert len(server.connections) == 3


def test_a_server_that_hangs_up_after_each_response_gets_a_new_connection_without_errors(server, allow_private):
    server.respond(hang_up=True)
    for sent in range(1, 11):
        outcome = post_json(server.url(), b"{}")
        assert (outcome.kind, outcome.error, outcome.reused_connection) == ("delivered", "", False)
        server.wait_closed(sent)
    assert len(server.connections) == 10
    assert len(server.requests) == 10  # each delivery sent once


def test_a_connection_the_server_closed_when_idle_is_replaced(server, allow_private):
    server.respond(idle_timeout=0.2)
    assert post_json(server.url(), b"{}").delivered
    server.wait_closed(1)
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.error, outcome.reused_connection) == ("delivered", "", False)
    assert len(server.connections) == 2 and len(server.requests) == 2


def test_a_body_over_the_cap_leaves_the_connection_unused(server, allow_private):
    allow_private.WEBHOOK_MAX_RESPONSE_BYTES = 1024
    server.respond(200, b"x" * 3000)  # arrives in one read, so the socket looks clean afterwards
    outcomes = [post_json(server.url(), b"{}") for _ in range(3)]
    assert all(outcome.delivered and not outcome.reused_connection for outcome in outcomes)
    assert len(server.connections) == 3 and len(server.requests) == 3


def test_a_read_timeout_leaves_the_connection_unused_and_the_next_request_works(server, allow_private):
    allow_private.WEBHOOK_READ_TIMEOUT = 1
    server.respond(200, b'"late"', delay=1.5)
    assert post_json(server.url(), b"{}").error == "read timeout after 1 s"
    server.respond(200, b'"on time"')
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.response_excerpt, outcome.reused_connection) == ("delivered", '"on time"', False)
    assert len(server.connections) == 2


def test_deadline_and_read_timeout_count_from_each_request_on_a_reused_connection(server, allow_private):
    allow_private.WEBHOOK_CONNECT_TIMEOUT, allow_private.WEBHOOK_READ_TIMEOUT = 1, 1
    assert post_json(server.url(), b"{}").delivered
    time.sleep(2.2)  # past the first request's 2 s deadline
    server.respond(200, b'"ok"', delay=0.3)
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.reused_connection) == ("delivered", True), outcome.error
    assert 300 <= outcome.latency_ms < 1000  # from this request's start to its response headers


def test_keepalive_seconds_zero_never_reuses(server, allow_private):
    allow_private.WEBHOOK_KEEPALIVE_SECONDS = 0
    outcomes = [post_json(server.url(), b"{}") for _ in range(5)]
    assert all(outcome.delivered and not outcome.reused_connection for outcome in outcomes)
    assert len(server.connections) == 5


def test_an_idle_connection_older_than_the_setting_is_not_reused(server, allow_private, clock):
    assert post_json(server.url(), b"{}").delivered
    clock[0] += 29
    assert post_json(server.url(), b"{}").reused_connection
    clock[0] += 30
    outcome = post_json(server.url(), b"{}")
    assert outcome.delivered and not outcome.reused_connection
    assert len(server.connections) == 2


def test_the_servers_keep_alive_timeout_is_honoured(server, allow_private, clock):
    server.respond(headers={"Keep-Alive": "timeout=5, max=100"})
    assert post_json(server.url(), b"{}").delivered
    clock[0] += 3.5
    assert post_json(server.url(), b"{}").reused_connection
    clock[0] += 4.5  # within our 30 s, but less than a second before the server would close it
    assert not post_json(server.url(), b"{}").reused_connection
    assert len(server.connections) == 2


def test_close_idle_connections_closes_this_threads_pool(server, allow_private):
    assert post_json(server.url(), b"{}").delivered
    close_idle_connections()
    server.wait_closed(1)
    assert not post_json(server.url(), b"{}").reused_connection
    assert len(server.connections) == 2


def test_a_thread_keeps_at_most_32_idle_connections_closing_the_oldest(server, allow_private, resolver):
    for n in range(33):
        resolver[f"h{n}.example"] = ("127.0.0.1",)
        assert post_json(server.url(host=f"h{n}.example"), b"{}").delivered
    server.wait_closed(1)
    assert post_json(server.url(host="h32.example"), b"{}").reused_connection
    assert not post_json(server.url(host="h0.example"), b"{}").reused_connection
    assert len(server.connections) == 34


def test_connections_idle_past_the_setting_are_closed_without_being_asked_for(server, allow_private, resolver, clock):
    resolver["a.example"] = resolver["b.example"] = ("127.0.0.1",)
    assert post_json(server.url(host="a.example"), b"{}").delivered
    clock[0] += 31
    assert post_json(server.url(host="b.example"), b"{}").delivered
    server.wait_closed(1)  # a.example's, closed by the client
    assert len(server.connections) == 2


# --- every request is still checked -------------------------------------------------------------


def test_a_dns_change_to_another_allowed_address_connects_there(allow_private, resolver):
    first = _start(("127.0.0.1", 0))
    try:
        second = _start(("127.0.0.2", first.port))
    except OSError:
        _stop(first)
        pytest.skip("cannot listen on 127.0.0.2")
    try:
        url = first.url(host="hooks.example")
        resolver["hooks.example"] = ("127.0.0.1",)
        assert post_json(url, b"{}").delivered
        resolver["hooks.example"] = ("127.0.0.2",)
        outcome = post_json(url, b"{}")
        assert outcome.delivered and not outcome.reused_connection
        assert (len(first.requests), len(second.requests), len(second.connections)) == (1, 1, 1)
        assert dict(second.requests[0]["headers"])["Host"] == f"hooks.example:{first.port}"
        resolver["hooks.example"] = ("127.0.0.1",)  # back: the connection pooled for that address serves
        assert post_json(url, b"{}").reused_connection
        assert (len(first.requests), len(first.connections)) == (2, 1)
    finally:
        _stop(first)
        _stop(second)


def test_a_dns_change_to_a_private_address_is_refused_and_the_pooled_connection_unused(
    server, allow_private, resolver, monkeypatch
):
    allow_private.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    real_reason = http._forbidden_reason
    # 127.0.0.1 stands in for the receiver's public address; everything else is judged as usual.
    monkeypatch.setattr(
        http, "_forbidden_reason", lambda address: None if address == "127.0.0.1" else real_reason(address)
    )
    url = server.url(host="hooks.example")
    resolver["hooks.example"] = ("127.0.0.1",)
    assert post_json(url, b"{}").delivered
    for answer in [("10.0.0.1",), ("127.0.0.1", "10.0.0.1")]:  # rebinding, alone or beside the pooled address
        resolver["hooks.example"] = answer
        outcome = post_json(url, b"{}")
        assert (outcome.kind, outcome.status_code) == ("failed", None)
        assert "hooks.example resolves to 10.0.0.1, a private address" in outcome.error
    assert len(server.requests) == 1
    resolver["hooks.example"] = ("127.0.0.1",)
    assert post_json(url, b"{}").reused_connection  # it was there all along, and was not used


def test_a_metadata_address_is_refused_with_a_pooled_connection_to_the_same_host(server, allow_private, resolver):
    url = server.url(host="hooks.example")
    resolver["hooks.example"] = ("127.0.0.1",)
    assert post_json(url, b"{}").delivered
    resolver["hooks.example"] = ("169.254.169.254",)
    outcome = post_json(url, b"{}")
    assert outcome.kind == "failed" and "a cloud metadata address" in outcome.error
    allow_private.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False  # same address, no longer allowed
    resolver["hooks.example"] = ("127.0.0.1",)
    outcome = post_json(url, b"{}")
    assert outcome.kind == "failed" and "a loopback address" in outcome.error
    assert len(server.requests) == 1


# --- threads, headers, TLS ----------------------------------------------------------------------


def test_connections_are_per_thread(server, allow_private):
    reused, first_done, second_done = {}, threading.Event(), threading.Event()

    def send(name, done, wait_for):
        if wait_for is not None:
            wait_for.wait(5)
        reused[name] = [post_json(server.url(), b"{}").reused_connection for _ in range(3)]
        done.set()
        (first_done if wait_for is not None else second_done).wait(5)  # both pools live until both sent
        close_idle_connections()

    threads = [
        threading.Thread(target=send, args=("first", first_done, None)),
        threading.Thread(target=send, args=("second", second_done, first_done)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert reused == {"first": [False, True, True], "second": [False, True, True]}
    assert len(server.connections) == 2 and len(server.requests) == 6


def test_recorded_request_headers_are_exactly_those_sent_on_a_reused_connection(server, allow_private):
    for _ in range(2):
        outcome = post_json(
            server.url(), b'{"a": 1}', delivery_id="d-1", secret="s3cret", headers={"Authorization": "Bearer t"}
        )
    assert outcome.reused_connection
    received = server.requests[-1]["headers"]
    assert list(outcome.request_headers) == [(name, REDACTED if is_secret_header(name) else v) for name, v in received]
    assert [name for name, _ in outcome.request_headers] == [
        "Content-Type",
        "Authorization",
        "X-Eventsys-Delivery",
        "X-Eventsys-Timestamp",
        "X-Eventsys-Signature",
        "User-Agent",
        "Accept-Encoding",
        "Content-Length",
        "Host",
    ]


def test_https_connections_are_reused_and_keyed_by_host_name(server, certificate, allow_private, resolver, monkeypatch):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    monkeypatch.setattr(certifi, "where", lambda: str(certificate[0]))
    resolver["pinned.example"] = resolver["other.example"] = ("127.0.0.1",)
    outcomes = [post_json(server.url(host="pinned.example", scheme="https"), b"{}") for _ in range(5)]
    assert [(outcome.kind, outcome.reused_connection) for outcome in outcomes] == [("delivered", False)] + [
        ("delivered", True)
    ] * 4
    assert len(server.connections) == 1
    # Same address and port, another name: not the verified connection, a new one whose check fails.
    mismatch = post_json(server.url(host="other.example", scheme="https"), b"{}")
    assert mismatch.kind == "retry" and "TLS error" in mismatch.error and not mismatch.reused_connection
    assert len(server.requests) == 5
