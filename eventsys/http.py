"""The project's one outbound HTTP client: webhooks, price polling, the event propagator.

Every request goes through the same guard and transport:

* the URL must be http(s), name a host, carry no credentials and have a valid port;
* the host is resolved once and every address is checked: no loopback, private, link-local, multicast,
  reserved or unspecified addresses unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``, and never a cloud metadata
  address (IPv4-mapped, 6to4 and NAT64 forms are checked as the IPv4 address they carry);
* the connection goes to a checked address, never through a second DNS lookup (defeats DNS rebinding),
  with TLS still verified against the original host name; environment proxies are not used;
* redirects are not followed, nothing is retried here (callers schedule retries from ``Outcome.kind``);
* connect and read timeouts apply, plus a deadline of connect + read for the whole exchange, and at most
  ``WEBHOOK_MAX_RESPONSE_BYTES`` of the body is read;
* connections are kept alive for ``WEBHOOK_KEEPALIVE_SECONDS`` in a per-thread pool keyed by scheme, host
  name, port and pinned address; one is reused only for an address that passed the check of this request,
  only after a clean HTTP/1.1 exchange whose body was read whole, and never when the server closed it;
* the outcome records the request headers exactly as sent and the response headers (bounded), with the
  values of secret-bearing headers redacted.

Settings are read at call time, so tests can override them.
"""

import dataclasses
import hashlib
import hmac
import http.client
import io
import ipaddress
import itertools
import json
import os
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.wait import wait_for_read

SIGNATURE_HEADER = "X-Eventsys-Signature"
DELIVERY_HEADER = "X-Eventsys-Delivery"
TIMESTAMP_HEADER = "X-Eventsys-Timestamp"
USER_AGENT = "eventsys/1.0"
EXCERPT_CHARS = 1000
REDACTED = "[redacted]"
# Recorded response headers: a receiver may send any number of any size.
MAX_RESPONSE_HEADERS = 50
HEADER_NAME_CHARS = 100
HEADER_VALUE_CHARS = 500
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_NAME_WORDS = ("token", "secret", "key", "password", "auth")
_CHUNK_BYTES = 16384
_METADATA_ADDRESSES = frozenset(
    map(ipaddress.ip_address, ("169.254.169.254", "fd00:ec2::254", "fd20:ce::254", "100.100.100.200"))
)
_METADATA_NETWORKS = (ipaddress.ip_network("192.0.0.0/24"),)  # IETF protocol assignments; 192.0.0.192 is OCI's
_METADATA = "a cloud metadata address"
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
_ADDRESS_KINDS = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
    ("is_site_local", "a site-local address"),
)
# What WEBHOOK_ALLOW_PRIVATE_NETWORKS lifts: the machine itself and the networks beside it. Link-local
# (cloud credential endpoints live there), metadata, unspecified, multicast and reserved stay refused.
_LIFTABLE = frozenset({"a loopback address", "a private address", "a site-local address", "not a public address"})
_KEEPALIVE_PER_THREAD = 32  # idle keep-alive connections one thread holds, at most one per host and address
_KEEPALIVE_HINT = re.compile(r"(?:^|[,;\s])timeout\s*=\s*([0-9]+)", re.IGNORECASE)
_clock = time.monotonic  # ages of idle connections; tests replace it
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux; see _DeadlineSocket.recv_into


class ForbiddenDestination(ValueError):
    """The URL may not be requested; the message is fit to show to the user who entered it."""


class _Unresolvable(ForbiddenDestination):
    """DNS gave no address: a warning at write time, and transient ("retry") to a sender."""


Headers = tuple[tuple[str, str], ...]  # (name, value) pairs in order; a repeated header is repeated


@dataclass(frozen=True)
class Outcome:
    """What happened to one request.

    ``kind``: "delivered" (2xx), "retry" (408, 429, 5xx, timeouts, connection, TLS and DNS errors) or
    "failed" (other statuses, including redirects, which are not followed; refused or invalid URLs).
    ``error`` is "" for delivered outcomes; ``retry_after`` comes from Retry-After on 429 and 503 only.
    ``request_headers`` are the (name, value) pairs sent, in order, or that would have been sent when no
    connection was made; ``response_headers`` those received, at most MAX_RESPONSE_HEADERS, each cut to
    HEADER_NAME_CHARS / HEADER_VALUE_CHARS, () without a response. In both, repeated headers stay
    separate pairs and secret-bearing values read REDACTED (see ``is_secret_header``).
    """

    kind: str
    status_code: int | None
    latency_ms: int
    error: str
    response_excerpt: str
    retry_after: float | None
    request_headers: Headers = ()
    response_headers: Headers = ()
    reused_connection: bool = False  # sent on a kept-alive connection rather than a new one

    @property
    def delivered(self) -> bool:
        return self.kind == "delivered"


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # IDNA-encoded, no brackets: used for SNI and certificate checks
    port: int
    host_header: str
    request_target: str
    addresses: tuple[str, ...]  # empty until resolved and checked


def validate_destination_url(url: str) -> str | None:
    """Raise ForbiddenDestination unless ``url`` is one this client would send to (resolves the host once).

    A host that does not resolve now is not refused: DNS may be briefly down, or the name made later,
    and every delivery checks again (and retries). The answer is then a warning to show the user;
    None when the host resolved to allowed addresses.
    """
    try:
        _check(url)
    except _Unresolvable as exc:
        return f"{exc}; accepted, and checked again at every delivery"
    return None


def _check(url: str) -> _Target:
    return _allowed(_parse(url))


def _parse(url: str) -> _Target:
    """The URL's parts, refused if malformed or not http(s); the host is not resolved yet."""
    if re.search(r"[\x00-\x20\x7f]", url):
        raise ForbiddenDestination("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ForbiddenDestination("the URL is malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ForbiddenDestination(f"scheme {scheme or '(none)'!r} is not allowed; use http or https")
    if "@" in parts.netloc:
        raise ForbiddenDestination("credentials in the URL (user:password@) are not allowed")
    if not parts.hostname:
        raise ForbiddenDestination("the URL must include a host")
    try:
        explicit_port = parts.port
        host = parts.hostname.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        raise ForbiddenDestination("the URL has an invalid host or port") from None
    default_port = 443 if scheme == "https" else 80
    port = default_port if explicit_port is None else explicit_port
    if not 1 <= port <= 65535:
        raise ForbiddenDestination("the port must be between 1 and 65535")
    host_header = f"[{host}]" if ":" in host else host
    if explicit_port is not None and explicit_port != default_port:
        host_header += f":{explicit_port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = quote(target, safe="!$%&'()*+,/:;=?@[]~")  # keeps existing %-escapes, encodes non-ASCII
    return _Target(scheme, host, port, host_header, target, addresses=())


def _allowed(target: _Target) -> _Target:
    """``target`` with its host's addresses, refused if any of them is off limits."""
    host = target.host
    addresses = _resolve(host, target.port)
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS
    for address in addresses:
        reason = _forbidden_reason(address)
        if reason and (not allow_private or reason not in _LIFTABLE):
            where = f"{host} is" if address == host else f"{host} resolves to {address},"
            hint = " (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true allows them, for development)" if reason in _LIFTABLE else ""
            raise ForbiddenDestination(f"{where} {reason}; requests to private networks are not allowed{hint}")
    return dataclasses.replace(target, addresses=addresses)


def _resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError:
        raise ForbiddenDestination("the URL has an invalid host") from None
    except OSError as exc:
        raise _Unresolvable(f"cannot resolve host {host}: {getattr(exc, 'strerror', None) or exc}") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise _Unresolvable(f"cannot resolve host {host}")
    return addresses


def _forbidden_reason(address: str) -> str | None:
    """Why ``address`` is off limits, or None when it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if ip.version == 6:
        # IPv6 forms that carry an IPv4 address the stack or a gateway forwards to: mapped, 6to4, NAT64.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            candidates.insert(0, embedded)
    for candidate in candidates:
        if candidate in _METADATA_ADDRESSES or any(candidate in net for net in _METADATA_NETWORKS):
            return _METADATA
        for attribute, reason in _ADDRESS_KINDS:
            if getattr(candidate, attribute, False):
                return reason
        if not candidate.is_global:  # e.g. 100.64.0.0/10 shared address space
            return "not a public address"
    return None


def sign(secret: str, *, delivery_id: str, timestamp: int, body: bytes) -> str:
    """``"v1=" + hex(HMAC-SHA256(secret, f"{delivery_id}.{timestamp}." + body))``."""
    message = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str, *, delivery_id: str, timestamp: int, body: bytes, signature: str, now: int, tolerance: int = 300
) -> bool:
    """What a receiver does with a delivery; True only for an authentic, fresh request.

    Take ``delivery_id`` from X-Eventsys-Delivery, ``timestamp`` from X-Eventsys-Timestamp (as int),
    ``signature`` from X-Eventsys-Signature and ``body`` as the raw request bytes (not re-serialised JSON),
    ``now`` as the receiver's unix time. Requests more than ``tolerance`` seconds old (or ahead) are
    rejected to limit replays; receivers should also ignore delivery ids they have already processed.
    """
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, delivery_id=delivery_id, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.encode(), signature.encode())


def post_json(
    url: str,
    body: bytes,
    *,
    delivery_id: str | None = None,
    secret: str | None = None,
    headers: dict[str, str] | None = None,
    timestamp: int | None = None,
) -> Outcome:
    """POST already-serialised JSON ``body``; never raises for network, HTTP or destination problems.

    With ``delivery_id`` the delivery and timestamp headers are sent, and the signature too when
    ``secret`` is non-empty (a secret without a delivery id is a programming error: ValueError).
    A 2xx status counts as delivered even if the response body could not be read completely.
    """
    if secret and delivery_id is None:
        raise ValueError("signing needs a delivery_id")
    request_headers = urllib3.HTTPHeaderDict({"Content-Type": "application/json"})
    request_headers.update(headers or {})
    if delivery_id is not None:
        timestamp = int(time.time()) if timestamp is None else int(timestamp)
        request_headers[DELIVERY_HEADER] = delivery_id
        request_headers[TIMESTAMP_HEADER] = str(timestamp)
        if secret:
            request_headers[SIGNATURE_HEADER] = sign(secret, delivery_id=delivery_id, timestamp=timestamp, body=body)
    outcome, _, _ = _request("POST", url, body, request_headers)
    return outcome


def get_json(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    parse_float=None,
    max_bytes: int | None = None,
) -> tuple[Outcome, object | None]:
    """GET ``url`` (``params`` added to its query) and parse the JSON body; never raises, like post_json.

    The data is None unless the outcome is delivered. A 2xx response whose body is not valid JSON
    (including one cut off at ``WEBHOOK_MAX_RESPONSE_BYTES``) gives kind "retry", error "invalid JSON";
    one whose body could not be read in time gives kind "retry" with the timeout as error.
    ``parse_float=Decimal`` reads prices exactly; ``max_bytes`` raises the response cap for a known, large
    document (a catalogue of coins).
    """
    if params:
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query="&".join(filter(None, (parts.query, urlencode(params))))))
    request_headers = urllib3.HTTPHeaderDict({"Accept": "application/json"})
    request_headers.update(headers or {})
    outcome, body, body_error = _request("GET", url, None, request_headers, max_bytes=max_bytes)
    if not outcome.delivered:
        return outcome, None
    if body_error:
        return dataclasses.replace(outcome, kind="retry", error=body_error), None
    try:
        return outcome, json.loads(body, parse_float=parse_float)
    except ValueError:
        return dataclasses.replace(outcome, kind="retry", error="invalid JSON"), None


def _request(
    method: str, url: str, body: bytes | None, headers: urllib3.HTTPHeaderDict, *, max_bytes: int | None = None
) -> tuple[Outcome, bytes, str]:
    """Send one request: the outcome, the (capped) body read, and why that body is incomplete ("" if it isn't)."""
    _add_default_headers(headers, body)
    try:
        target = _parse(url)
        headers["Host"] = target.host_header
        target = _allowed(target)
    except ForbiddenDestination as exc:
        kind = "retry" if isinstance(exc, _Unresolvable) else "failed"
        return _failure(kind, str(exc), sent=_sent_headers(headers)), b"", ""
    sent = _sent_headers(headers)
    connect_timeout, read_timeout = settings.WEBHOOK_CONNECT_TIMEOUT, settings.WEBHOOK_READ_TIMEOUT
    keepalive = settings.WEBHOOK_KEEPALIVE_SECONDS
    started = time.perf_counter()
    conn = response = sock = None
    reused = False
    try:
        # Only an address checked just now may be reused: a pooled connection to an address DNS no longer
        # gives (or one now refused) stays unused.
        idle = _local.pool.take(target, keepalive) if keepalive > 0 else None
        if idle is not None:
            conn, address, raw, reused = idle.conn, idle.address, idle.sock, True
        else:
            conn, address = _connect(target, started + connect_timeout)
            raw = conn.sock
        conn.timeout = read_timeout  # for sending the request
        # Wrapped per request: the read timeout and the deadline count from this request's start.
        sock = conn.sock = _DeadlineSocket(raw, read_timeout, started, connect_timeout + read_timeout)
        # Once written, a request is never re-sent on another connection, even when a reused one turns out
        # to have been closed by the server: it may have acted on it (a POST). Callers own retries.
        conn.request(method, target.request_target, body, headers, preload_content=False, decode_content=False)
        response = conn.getresponse()
        latency_ms = round((time.perf_counter() - started) * 1000)
        received, body_error = _read_capped(response, sock, max_bytes or settings.WEBHOOK_MAX_RESPONSE_BYTES)
        outcome = _classify(response.status, response.headers, latency_ms, received, sent=sent, reused=reused)
        if keepalive > 0 and not body_error and _reusable(conn, sock, response):
            response.close()  # releases the wrapper's reader; the raw socket stays open (the wrapper is not closed)
            conn.sock = raw
            _local.pool.put(target, address, conn, _server_keepalive(response.headers), keepalive)
            conn = None
        return outcome, received, body_error
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException, ValueError) as exc:
        kind, error = _describe(exc, sock, connect_timeout)
        return _failure(kind, error, started, sent=sent, reused=reused), b"", ""
    finally:
        if response is not None:
            response.close()
        if conn is not None:
            conn.close()


def _reusable(conn: HTTPConnection, sock: "_DeadlineSocket", response: urllib3.BaseHTTPResponse) -> bool:
    """Whether ``conn`` can carry another request after this exchange, which raised nothing."""
    return (
        conn.sock is sock  # http.client drops it on "Connection: close" and on a body that ends at EOF
        and response.version == 11
        and response.status >= 200  # after 101 Switching Protocols the connection speaks something else
        and response.isclosed()  # http.client closes its reader at the end of the body: nothing is left unread
        and not sock.expired
    )


def _server_keepalive(headers: urllib3.HTTPHeaderDict) -> float:
    """How long the server says it keeps an idle connection (``Keep-Alive: timeout=N``), less a second so
    that we stop using it before the server closes it; infinite when it does not say."""
    match = _KEEPALIVE_HINT.search(headers.get("Keep-Alive", ""))
    return float("inf") if match is None else int(match.group(1)) - 1.0


@dataclass
class _Idle:
    conn: HTTPConnection  # conn.sock is the raw socket between requests
    address: str
    sock: socket.socket
    since: float  # _clock() when it went idle
    limit: float  # seconds the server keeps it (see _server_keepalive)


class _Pool:
    """One thread's idle connections by (scheme, host, port, address), the one idle longest first.

    A thread has one request in flight and returns its connection after it, so a key never needs more
    than one idle connection; the bound that matters is the number of hosts (_KEEPALIVE_PER_THREAD).
    """

    def __init__(self) -> None:
        self.idle: dict[tuple[str, str, int, str], _Idle] = {}

    def take(self, target: _Target, max_age: float) -> _Idle | None:
        """An open idle connection to one of ``target.addresses``; stale ones met on the way are closed."""
        if not self.idle:
            return None
        now = _clock()
        for address in target.addresses:
            idle = self.idle.pop((target.scheme, target.host, target.port, address), None)
            if idle is None:
                continue
            if now - idle.since < min(max_age, idle.limit) and not _dropped(idle.sock):
                return idle
            idle.conn.close()
        return None

    def put(self, target: _Target, address: str, conn: HTTPConnection, limit: float, max_age: float) -> None:
        if limit <= 0:
            conn.close()
            return
        now = _clock()
        # Close what has outlived the setting (oldest first) or exceeds the bound, so that hosts no longer
        # sent to do not hold sockets open.
        while self.idle:
            oldest = next(iter(self.idle.values()))
            if now - oldest.since < max_age and len(self.idle) < _KEEPALIVE_PER_THREAD:
                break
            self.idle.pop(next(iter(self.idle))).conn.close()
        key = (target.scheme, target.host, target.port, address)
        if (replaced := self.idle.pop(key, None)) is not None:
            replaced.conn.close()
        self.idle[key] = _Idle(conn, address, conn.sock, now, limit)

    def close(self) -> None:
        idle, self.idle = self.idle, {}
        for entry in idle.values():
            entry.conn.close()


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle connection was closed by the server: anything readable while idle is EOF, a reset,
    a TLS alert or garbage, none of which may be taken for the answer to the next request."""
    try:
        return bool(getattr(sock, "pending", lambda: 0)()) or wait_for_read(sock, timeout=0.0)
    except (OSError, ValueError):
        return True


class _Local(threading.local):
    def __init__(self) -> None:
        self.pool = _Pool()


# Per thread, so the hot path takes no lock: Celery thread pools and delivery code call from many threads.
_local = _Local()


def close_idle_connections() -> None:
    """Close this thread's idle keep-alive connections (tests). A worker needs no call at shutdown: its
    exit closes every socket it holds, which the receiver sees as an orderly close."""
    _local.pool.close()


def _forget_pool_after_fork() -> None:
    # A child must not share its parent's connections: both would read each other's responses. Closing the
    # child's copies of the descriptors leaves the parent's connections open.
    global _local
    old, _local = _local, _Local()
    old.pool.close()


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _add_default_headers(headers: urllib3.HTTPHeaderDict, body: bytes | None) -> None:
    """Set what urllib3 and http.client would otherwise add on their own (each skips a header already
    given), so ``headers`` plus Host is exactly what goes on the wire, and can be recorded as sent."""
    headers.setdefault("User-Agent", USER_AGENT)
    headers.setdefault("Accept-Encoding", "identity")
    if body is not None:
        headers["Content-Length"] = str(len(body))


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a credential, never to be recorded. The signature header is not one:
    it is an HMAC of this request, useless for forging another, and receivers debugging it need it."""
    lowered = name.lower()
    return lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_NAME_WORDS)


def _recordable(pairs) -> Headers:
    """The pairs with secret values redacted and NUL (PostgreSQL cannot store it in JSON) replaced."""
    return tuple(
        (_without_nul(name), REDACTED if is_secret_header(name) else _without_nul(value)) for name, value in pairs
    )


def _without_nul(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def _sent_headers(headers: urllib3.HTTPHeaderDict) -> Headers:
    return _recordable(headers.iteritems())


def _received_headers(headers: urllib3.HTTPHeaderDict) -> Headers:
    """Redacted on the whole name, then cut: a long name ending in "-token" is still redacted."""
    kept = _recordable(itertools.islice(headers.iteritems(), MAX_RESPONSE_HEADERS))
    return tuple((name[:HEADER_NAME_CHARS], value[:HEADER_VALUE_CHARS]) for name, value in kept)


def _describe(exc: Exception, sock: "_DeadlineSocket | None", connect_timeout: float) -> tuple[str, str]:
    """(kind, error) for an exception raised before the response headers were read."""
    match exc:
        case urllib3.exceptions.NewConnectionError():
            return "retry", f"cannot connect: {getattr(exc.__cause__, 'strerror', None) or exc.__cause__}"
        case urllib3.exceptions.ConnectTimeoutError() | TimeoutError() if sock is None:  # TCP or TLS handshake
            return "retry", f"connect timeout after {connect_timeout:g} s"
        case TimeoutError():
            return "retry", sock.timeout_text()
        case ssl.SSLError() | urllib3.exceptions.SSLError():
            return "retry", f"TLS error: {getattr(exc, 'verify_message', None) or exc}"
        case ValueError():  # e.g. a header value containing a line break
            return "failed", f"invalid request: {exc}"
    return "retry", f"connection error: {exc}"


def _connect(target: _Target, connect_deadline: float) -> tuple[HTTPConnection, str]:
    """Connect to the first checked address that accepts within the shared connect budget; (conn, address)."""
    error: Exception | None = None
    for address in target.addresses:
        remaining = connect_deadline - time.perf_counter()
        if error is not None and remaining <= 0:
            break
        if target.scheme == "https":  # SNI and the certificate check use the host name, not the address
            tls = {"server_hostname": target.host, "cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()}
            conn: HTTPConnection = HTTPSConnection(address, target.port, timeout=max(remaining, 0.001), **tls)
        else:
            conn = HTTPConnection(address, target.port, timeout=max(remaining, 0.001))
        try:
            conn.connect()
            return conn, address
        except urllib3.exceptions.ConnectTimeoutError as exc:  # includes NewConnectionError: try the next address
            conn.close()
            error = exc
        except BaseException:
            conn.close()
            raise
    raise error  # type: ignore[misc]  # addresses is never empty


def _read_capped(response: urllib3.BaseHTTPResponse, sock: "_DeadlineSocket", cap: int) -> tuple[bytes, str]:
    """Read at most `cap` bytes of the body; the rest is left unread (the connection is then not reused)."""
    received = bytearray()
    try:
        while len(received) < cap and (chunk := response.read1(min(_CHUNK_BYTES, cap - len(received)))):
            received += chunk
    except urllib3.exceptions.ReadTimeoutError:
        return bytes(received), sock.timeout_text()
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
        return bytes(received), f"response body incomplete: {exc}"
    return bytes(received), ""


class _DeadlineSocket:
    """Socket wrapper whose every read waits at most the read timeout and never past the overall deadline.

    http.client reads the status line, headers and body through ``makefile("rb")``; routing those reads
    through here stops a server that drips bytes slowly from holding a worker beyond the deadline.
    """

    def __init__(self, sock: socket.socket, read_timeout: float, started: float, budget: float):
        self._sock, self._read_timeout, self._budget = sock, read_timeout, budget
        self._deadline = started + budget
        self._io_refs, self._closed = 0, False
        self.expired = False

    def __getattr__(self, name):
        return getattr(self._sock, name)

    def recv_into(self, buffer, *args):
        remaining = self._deadline - time.perf_counter()
        if remaining <= 0:
            self.expired = True
            raise TimeoutError("deadline exceeded")
        self._sock.settimeout(min(self._read_timeout, remaining))
        if _QUICKACK is not None:
            # A receiver that writes headers and body apart without TCP_NODELAY holds the body until the
            # headers are acknowledged, and Linux delays that acknowledgement (40 ms) on a long-lived
            # connection: keep-alive would be 100 times slower than a new connection per request.
            self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        try:
            return self._sock.recv_into(buffer, *args)
        except TimeoutError:
            self.expired = remaining < self._read_timeout
            raise

    def timeout_text(self) -> str:
        if self.expired:
            return f"no complete response within {self._budget:g} s"
        return f"read timeout after {self._read_timeout:g} s"

    # Reference counting as socket.socket does it: the response's reader keeps the socket open after close().
    def makefile(self, *args, **kwargs):
        self._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, "rb"))

    def _decref_socketios(self):
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self):
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()


def _classify(
    status: int, headers: urllib3.HTTPHeaderDict, latency_ms: int, body: bytes, *, sent: Headers, reused: bool = False
) -> Outcome:
    if 200 <= status < 300:
        kind, error = "delivered", ""
    elif status in (408, 429) or 500 <= status < 600:
        kind, error = "retry", f"HTTP {status}"
    elif 300 <= status < 400:
        kind, error = "failed", f"redirect not followed (HTTP {status})"
    else:
        kind, error = "failed", f"HTTP {status}"
    retry_after = _parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
    # NUL cannot be stored in a PostgreSQL text column; a receiver may well send one.
    excerpt = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:EXCERPT_CHARS]
    return Outcome(kind, status, latency_ms, error, excerpt, retry_after, sent, _received_headers(headers), reused)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (past dates give 0)."""
    value = (value or "").strip()
    if re.fullmatch(r"[0-9]+", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _failure(kind: str, error: str, started: float | None = None, *, sent: Headers, reused: bool = False) -> Outcome:
    """An outcome without a response: no status, no response headers."""
    latency_ms = 0 if started is None else round((time.perf_counter() - started) * 1000)
    return Outcome(kind, None, latency_ms, error.replace("\x00", "\ufffd"), "", None, sent, (), reused)
