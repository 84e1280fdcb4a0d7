"""eventsys.http against a throwaway HTTP(S) server on the loopback interface; nothing else is contacted."""

import email.utils
import json
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import certifi
import pytest
import urllib3

from eventsys import http
from eventsys.http import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ForbiddenDestination,
    get_json,
    post_json,
    sign,
    validate_destination_url,
    verify_signature,
)

_real_getaddrinfo = socket.getaddrinfo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _serve(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        server.received.append(
            {"method": self.command, "path": self.path, "headers": self.headers, "body": self.rfile.read(length)}
        )
        spec = server.spec
        time.sleep(spec["delay"])
        if spec["drip_headers"]:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
            return
        self.send_response(spec["status"])
        for name, value in spec["headers"].items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(spec["body"])))
        self.send_header("Connection", "close")
        self.end_headers()
        if spec["drip_body"]:
            for byte in spec["body"]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self.wfile.write(spec["body"])

    do_GET = do_POST = _serve

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, address, family=socket.AF_INET, tls_context=None):
        self.address_family = family
        self.tls_context = tls_context
        self.received = []
        self.respond()
        super().__init__(address, _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_context is not None:
            sock.settimeout(2)
            sock = self.tls_context.wrap_socket(sock, server_side=True)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # clients hang up on purpose (timeouts, the response cap)

    def respond(self, status=200, body=b"", headers=None, delay=0.0, drip_body=False, drip_headers=False):
        body = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.spec = {"status": status, "body": body, "headers": headers or {}, "delay": delay}
        self.spec |= {"drip_body": drip_body, "drip_headers": drip_headers}

    @property
    def port(self):
        return self.server_address[1]

    def url(self, path="/hook", host="127.0.0.1", scheme="http"):
        return f"{scheme}://{host}:{self.port}{path}"


def _start(**kwargs):
    server = _Server(**kwargs)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.005}, daemon=True).start()
    return server


@pytest.fixture
def server():
    server = _start(address=("127.0.0.1", 0))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    return settings


@pytest.fixture
def deny_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    return settings


@pytest.fixture
def fake_dns(monkeypatch):
    """Map made-up names to addresses and log every lookup; other names fail without asking a DNS server."""
    table, lookups = {}, []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        answer = table.get(host, host)
        answer = answer(lookups.count(host)) if callable(answer) else answer
        try:
            return [
                info
                for address in ([answer] if isinstance(answer, str) else answer)
                for info in _real_getaddrinfo(
                    address, port, 0, socket.SOCK_STREAM, 0, 0 if address == "localhost" else socket.AI_NUMERICHOST
                )
            ]
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table, lookups


# --- outcomes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 204])
def test_2xx_is_delivered(server, allow_private, status):
    server.respond(status, b"" if status == 204 else b'{"ok": true}')
    outcome = post_json(server.url(), b'{"a": 1}')
    assert outcome.delivered and outcome.kind == "delivered"
    assert (outcome.status_code, outcome.error, outcome.retry_after) == (status, "", None)
    assert outcome.response_excerpt == ("" if status == 204 else '{"ok": true}')
    assert outcome.latency_ms >= 0
    request = server.received[0]
    assert (request["method"], request["path"], request["body"]) == ("POST", "/hook", b'{"a": 1}')
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"] == "eventsys/1.0"
    assert request["headers"]["Host"] == f"127.0.0.1:{server.port}"
    assert DELIVERY_HEADER not in request["headers"]


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_transient_statuses_are_retried(server, allow_private, status):
    server.respond(status, b"busy")
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.status_code, outcome.error) == ("retry", status, f"HTTP {status}")
    assert outcome.response_excerpt == "busy" and outcome.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_and_http_date(server, allow_private, status):
    server.respond(status, headers={"Retry-After": "120"})
    assert post_json(server.url(), b"{}").retry_after == 120.0
    later = email.utils.formatdate(time.time() + 90, usegmt=True)
    server.respond(status, headers={"Retry-After": later})
    assert 80 <= post_json(server.url(), b"{}").retry_after <= 90
    server.respond(status, headers={"Retry-After": "soon"})
    assert post_json(server.url(), b"{}").retry_after is None


def test_retry_after_is_ignored_on_other_statuses(server, allow_private):
    server.respond(500, headers={"Retry-After": "120"})
    assert post_json(server.url(), b"{}").retry_after is None


@pytest.mark.parametrize("status", [400, 404, 410])
def test_client_errors_fail(server, allow_private, status):
    server.respond(status, b"nope")
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.status_code, outcome.error) == ("failed", status, f"HTTP {status}")


def test_redirect_is_not_followed(server, allow_private):
    server.respond(302, headers={"Location": server.url("/elsewhere")})
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.status_code, outcome.error) == ("failed", 302, "redirect not followed (HTTP 302)")
    assert [r["path"] for r in server.received] == ["/hook"]


def test_connection_refused_is_retried(allow_private):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = post_json(f"http://127.0.0.1:{port}/", b"{}")
    assert (outcome.kind, outcome.status_code) == ("retry", None)
    assert outcome.error.startswith("cannot connect") and "refused" in outcome.error.lower()


def test_unresolvable_host_is_a_warning_at_write_time_and_retried_at_delivery(allow_private, fake_dns):
    warning = validate_destination_url("http://nowhere.invalid/")
    assert warning.startswith("cannot resolve host nowhere.invalid") and warning.endswith(
        "checked again at every delivery"
    )
    assert validate_destination_url("http://127.0.0.1/") is None
    outcome = post_json("http://nowhere.invalid/", b"{}")
    assert outcome.kind == "retry" and outcome.error.startswith("cannot resolve host")


def test_read_timeout_is_retried(server, allow_private):
    allow_private.WEBHOOK_READ_TIMEOUT = 1
    server.respond(200, delay=1.5)
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.status_code, outcome.error) == ("retry", None, "read timeout after 1 s")


def test_slow_drip_body_stops_at_the_overall_deadline(server, allow_private):
    allow_private.WEBHOOK_CONNECT_TIMEOUT, allow_private.WEBHOOK_READ_TIMEOUT = 0.1, 0.4  # each byte comes in time
    server.respond(200, b"x" * 100, drip_body=True)
    started = time.monotonic()
    outcome, data = get_json(server.url())
    assert time.monotonic() - started < 2
    assert (outcome.kind, outcome.status_code, data) == ("retry", 200, None)
    assert outcome.error == "no complete response within 0.5 s"
    assert 0 < len(outcome.response_excerpt) < 100


def test_slow_drip_headers_stop_at_the_overall_deadline(server, allow_private):
    allow_private.WEBHOOK_CONNECT_TIMEOUT, allow_private.WEBHOOK_READ_TIMEOUT = 0.1, 0.4
    server.respond(drip_headers=True)
    started = time.monotonic()
    outcome = post_json(server.url(), b"{}")
    assert time.monotonic() - started < 2
    assert (outcome.kind, outcome.error) == ("retry", "no complete response within 0.5 s")


def test_response_is_capped(server, allow_private, monkeypatch):
    allow_private.WEBHOOK_MAX_RESPONSE_BYTES = 4096
    server.respond(500, b"\xe2\x82\xac" * 350_000)  # ~1 MB of euro signs
    real_read, read_sizes = urllib3.HTTPResponse.read1, []

    def counting_read(self, *args, **kwargs):
        data = real_read(self, *args, **kwargs)
        read_sizes.append(len(data))
        return data

    monkeypatch.setattr(urllib3.HTTPResponse, "read1", counting_read)
    outcome = post_json(server.url(), b"{}")
    assert (outcome.kind, outcome.status_code) == ("retry", 500)
    assert 0 < sum(read_sizes) <= 4096
    assert outcome.response_excerpt == "€" * 1000


def test_invalid_utf8_is_replaced_in_the_excerpt(server, allow_private):
    server.respond(400, b"bad \xff byte")
    assert post_json(server.url(), b"{}").response_excerpt == "bad \ufffd byte"


def test_ipv6_literal_url_works(allow_private):
    try:
        v6 = _start(address=("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        outcome = post_json(f"http://[::1]:{v6.port}/v6", b"{}")
        assert outcome.delivered
        assert v6.received[0]["headers"]["Host"] == f"[::1]:{v6.port}"
    finally:
        v6.shutdown()
        v6.server_close()


def test_extra_headers_are_sent_and_cannot_break_the_request(server, allow_private):
    post_json(server.url(), b"{}", headers={"Authorization": "Bearer t", "user-agent": "custom"})
    assert server.received[0]["headers"]["Authorization"] == "Bearer t"
    assert server.received[0]["headers"].get_all("User-Agent") == ["custom"]
    outcome = post_json(server.url(), b"{}", headers={"X-Bad": "a\r\nInjected: 1"})
    assert outcome.kind == "failed" and outcome.error.startswith("invalid request")
    assert len(server.received) == 1


# --- signatures ---------------------------------------------------------------------------------


def test_sign_is_hmac_sha256_over_id_timestamp_and_body():
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"d-1.1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("s3cret", delivery_id="d-1", timestamp=1700000000, body=b"{}") == "v1=" + expected


def test_receiver_verifies_the_signature_it_received(server, allow_private):
    body = b'{"event": "price.crossed", "value": 1}'
    outcome = post_json(server.url(), body, delivery_id="del-42", secret="s3cret", headers={"Authorization": "x"})
    assert outcome.delivered
    received = server.received[0]
    headers, now = received["headers"], int(time.time())
    assert headers[DELIVERY_HEADER] == "del-42"
    assert abs(int(headers[TIMESTAMP_HEADER]) - now) <= 2
    check = {
        "delivery_id": headers[DELIVERY_HEADER],
        "timestamp": int(headers[TIMESTAMP_HEADER]),
        "body": received["body"],
        "signature": headers[SIGNATURE_HEADER],
        "now": now,
    }
    assert verify_signature("s3cret", **check) is True
    assert verify_signature("s3cret", **(check | {"body": body + b" "})) is False
    assert verify_signature("wrong", **check) is False
    assert verify_signature("s3cret", **(check | {"delivery_id": "del-43"})) is False
    assert verify_signature("s3cret", **(check | {"now": check["timestamp"] + 301})) is False
    assert verify_signature("s3cret", **(check | {"now": check["timestamp"] - 301})) is False
    assert verify_signature("s3cret", **(check | {"signature": "v1=é"})) is False


def test_explicit_timestamp_and_no_signature_without_secret(server, allow_private):
    post_json(server.url(), b"{}", delivery_id="d", timestamp=1700000000)
    headers = server.received[0]["headers"]
    assert headers[TIMESTAMP_HEADER] == "1700000000" and SIGNATURE_HEADER not in headers
    with pytest.raises(ValueError):
        post_json(server.url(), b"{}", secret="s")


# --- destination guard --------------------------------------------------------------------------


@pytest.fixture
def no_connections(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a refused destination must not be connected to")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:{port}/", "127.0.0.1 is a loopback address"),
        ("http://localhost:{port}/", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://10.0.0.1/", "a private address"),
        ("http://169.254.169.254/latest", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://100.100.100.200/", "a cloud metadata address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "a loopback address"),
        ("http://[64:ff9b::a00:1]/", "a private address"),
        ("http://[2002:7f00:1::]/", "a loopback address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://127.1:{port}/", "127.1 resolves to 127.0.0.1, a loopback address"),
        ("http://0.0.0.0:{port}/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://100.64.0.1/", "not a public address"),
        ("ftp://x/", "scheme 'ftp' is not allowed"),
        ("//example.com/", "scheme '(none)' is not allowed"),
        ("http://user:pw@example.com/", "credentials"),
        ("http:///path", "must include a host"),
        ("http://example.com:0/", "between 1 and 65535"),
        ("http://example.com:70000/", "invalid host or port"),
        ("http://exa mple.com/", "spaces or control characters"),
    ],
)
def test_forbidden_destinations_are_refused_before_connecting(server, deny_private, no_connections, url, message):
    url = url.format(port=server.port)
    with pytest.raises(ForbiddenDestination, match=re.escape(message)):
        validate_destination_url(url)
    outcome = post_json(url, b"{}")
    assert (outcome.kind, outcome.status_code, outcome.latency_ms) == ("failed", None, 0)
    assert message in outcome.error
    assert get_json(url)[0].kind == "failed"
    assert server.received == []


def test_metadata_addresses_stay_refused_when_private_networks_are_allowed(allow_private, fake_dns, no_connections):
    table, _ = fake_dns
    table["metadata.example"] = "169.254.169.254"
    for url in ("http://169.254.169.254/latest", "http://metadata.example/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(ForbiddenDestination, match="a cloud metadata address"):
            validate_destination_url(url)
        assert post_json(url, b"{}").kind == "failed"
    validate_destination_url("http://10.0.0.1/")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.170.2/v2/credentials", "a link-local address"),  # AWS ECS task credentials
        ("http://[fd20:ce::254]/", "a cloud metadata address"),  # GCP over IPv6
        ("http://192.0.0.192/", "a cloud metadata address"),  # OCI
        ("http://0.0.0.0:8000/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
    ],
)
def test_credential_endpoints_and_non_unicast_stay_refused_when_private_networks_are_allowed(
    allow_private, no_connections, url, reason
):
    with pytest.raises(ForbiddenDestination, match=reason):
        validate_destination_url(url)
    assert post_json(url, b"{}").kind == "failed"


def test_oracle_metadata_address_is_refused(deny_private, no_connections):
    with pytest.raises(ForbiddenDestination, match="a cloud metadata address"):
        validate_destination_url("http://192.0.0.192/opc/v2/instance/")


def test_nul_bytes_in_a_response_never_reach_the_excerpt(server, allow_private):
    server.respond(200, b"ok\x00binary")
    outcome = post_json(server.url(), b"{}")
    assert outcome.delivered and "\x00" not in outcome.response_excerpt and outcome.response_excerpt.startswith("ok")


def test_loopback_message_is_user_facing(deny_private):
    with pytest.raises(ForbiddenDestination) as info:
        validate_destination_url("http://localhost/")
    assert str(info.value) in {
        f"localhost resolves to {address}, a loopback address; requests to private networks are not allowed "
        "(WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows them, for development)"
        for address in ("127.0.0.1", "::1")
    }


def test_a_refusal_that_the_setting_cannot_lift_names_no_setting(allow_private, no_connections):
    with pytest.raises(ForbiddenDestination) as info:
        validate_destination_url("http://169.254.169.254/latest")
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" not in str(info.value)


def test_name_resolving_to_loopback_is_refused(server, deny_private, fake_dns, no_connections):
    table, _ = fake_dns
    table["evil.example"] = "127.0.0.1"
    with pytest.raises(ForbiddenDestination, match=re.escape("evil.example resolves to 127.0.0.1, a loopback address")):
        validate_destination_url(server.url(host="evil.example"))
    assert post_json(server.url(host="evil.example"), b"{}").kind == "failed"
    assert server.received == []


def test_public_addresses_pass_the_guard(deny_private, fake_dns):
    table, _ = fake_dns
    table["hooks.example"] = "93.184.215.14"
    validate_destination_url("https://hooks.example/in?x=1")
    validate_destination_url("http://8.8.8.8:8080/")


def test_connection_goes_to_the_checked_address(server, allow_private, fake_dns):
    """DNS rebinding: a second lookup would get another answer, so exactly one lookup may happen."""
    table, lookups = fake_dns

    def rebinding(count):
        if count > 1:
            raise AssertionError("resolved twice")
        return "127.0.0.1"

    table["pinned.example"] = rebinding
    outcome = post_json(server.url(host="pinned.example"), b"{}")
    assert outcome.delivered
    assert lookups.count("pinned.example") == 1
    assert server.received[0]["headers"]["Host"] == f"pinned.example:{server.port}"
    lookups.clear()
    assert get_json(server.url(host="pinned.example"))[0].status_code == 200
    assert lookups.count("pinned.example") == 1


def test_every_resolved_address_is_checked(deny_private, fake_dns, no_connections):
    table, _ = fake_dns
    table["mixed.example"] = ["93.184.215.14", "10.0.0.1"]
    with pytest.raises(ForbiddenDestination, match=re.escape("mixed.example resolves to 10.0.0.1, a private")):
        validate_destination_url("https://mixed.example/")


def test_next_checked_address_is_tried_when_one_refuses(server, allow_private, fake_dns):
    allow_private.WEBHOOK_CONNECT_TIMEOUT = 1
    table, lookups = fake_dns
    table["multi.example"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on 127.0.0.2
    assert post_json(server.url(host="multi.example"), b"{}").delivered
    assert lookups.count("multi.example") == 1


# --- get_json -----------------------------------------------------------------------------------


def test_get_json_parses_json_and_sends_params(server, allow_private):
    server.respond(200, {"bitcoin": {"usd": 64000.5}})
    outcome, data = get_json(server.url("/simple/price?x=1#frag"), params={"ids": "bitcoin", "vs": "usd,eur"})
    assert outcome.delivered and data == {"bitcoin": {"usd": 64000.5}}
    request = server.received[0]
    assert (request["method"], request["path"]) == ("GET", "/simple/price?x=1&ids=bitcoin&vs=usd%2Ceur")
    assert request["headers"]["Accept"] == "application/json"


def test_get_json_invalid_json_is_retried(server, allow_private):
    server.respond(200, b"<html>oops</html>")
    outcome, data = get_json(server.url())
    assert (outcome.kind, outcome.status_code, outcome.error, data) == ("retry", 200, "invalid JSON", None)
    assert outcome.response_excerpt == "<html>oops</html>"


def test_get_json_non_2xx_has_no_data(server, allow_private):
    server.respond(429, {"error": "rate limited"}, headers={"Retry-After": "30"})
    outcome, data = get_json(server.url())
    assert (outcome.kind, outcome.retry_after, data) == ("retry", 30.0, None)


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = _start(address=("127.0.0.1", 0), tls_context=context)
    yield server
    server.shutdown()
    server.server_close()


def test_https_verifies_the_original_host_name_on_the_pinned_address(
    tls_server, certificate, allow_private, fake_dns, monkeypatch
):
    table, _ = fake_dns
    table["pinned.example"] = table["other.example"] = "127.0.0.1"

    untrusted = post_json(tls_server.url(host="pinned.example", scheme="https"), b"{}")
    assert untrusted.kind == "retry" and "TLS error" in untrusted.error

    monkeypatch.setattr(certifi, "where", lambda: str(certificate[0]))
    outcome = post_json(tls_server.url(host="pinned.example", scheme="https"), b"{}")
    assert outcome.delivered, outcome.error
    assert tls_server.received[-1]["headers"]["Host"] == f"pinned.example:{tls_server.port}"
    mismatch = post_json(tls_server.url(host="other.example", scheme="https"), b"{}")
    assert mismatch.kind == "retry" and "TLS error" in mismatch.error
    assert len(tls_server.received) == 1


def test_module_has_no_requests_dependency():
    assert "requests" not in vars(http)
