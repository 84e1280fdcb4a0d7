import pytest
import time_machine
from django.core.cache import cache
from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Hashing with the production hasher costs ~0.3 s a password; tests only need it to be a hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache; no test may inherit another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    """Transaction rules are cached per process; a test's rules (or a truncated table) are its own."""
    from alerts.services.transactions import rules_cache_clear

    rules_cache_clear()
    yield
    rules_cache_clear()


@pytest.fixture(autouse=True)
def _database_clock_follows_frozen_time(monkeypatch):
    """Services read the database's clock; in tests it is Django's, so time-machine can freeze it."""
    from django.utils import timezone

    monkeypatch.setattr("eventsys.clock.database_now", timezone.now)


@pytest.fixture(autouse=True)
def _no_broker_publishing(monkeypatch):
    """Tests never publish to the real broker by accident: a test that enqueues patches the enqueue."""

    def refuse(task, *args, **kwargs):
        # pytest.fail raises a BaseException: code that logs and swallows broker errors cannot hide it.
        pytest.fail(f"test tried to publish {task.name} to the broker; patch the enqueue instead")

    monkeypatch.setattr("celery.app.task.Task.apply_async", refuse)


@pytest.fixture
def frozen(request):
    """Time frozen (tick=False) at the test module's NOW; the traveller moves it."""
    with time_machine.travel(request.module.NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def client_alice(api_client, alice):
    api_client.force_authenticate(alice)
    return api_client


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def access_token():
    """A real JWT access token for a user, as /api/v1/auth/token/ and the legacy logins issue."""
    from rest_framework_simplejwt.tokens import RefreshToken

    def issue(user) -> str:
        return str(RefreshToken.for_user(user).access_token)

    return issue


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, password: str = "a-Strong-passw0rd", **fields):
        return django_user_model.objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", email="alice@example.com")


@pytest.fixture
def bob(make_user):
    return make_user("bob", email="bob@example.com")


class Receiver:
    """A local HTTP server that records every request and answers from a script of responses.

    POSTs are answered from `responses`, GETs from `get_responses` (each consumed in order); once a
    script runs out, the method's default answer (`defaults`) is given.
    """

    def __init__(self, defaults: dict[str, tuple[int, dict, bytes]] | None = None):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.requests: list[dict] = []
        self.responses: list[tuple[int, dict, bytes]] = []
        self.get_responses: list[tuple[int, dict, bytes]] = []
        self.defaults = {"GET": (200, {}, b"ok"), "POST": (200, {}, b"ok"), **(defaults or {})}
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.answer("GET", receiver.get_responses)

            def do_POST(self):
                self.answer("POST", receiver.responses)

            def answer(self, method, script):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.requests.append(
                        {"method": method, "path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    status, headers, reply = script.pop(0) if script else receiver.defaults[method]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def calls(self) -> list[tuple[str, str]]:
        return [(request["method"], request["path"]) for request in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    """A webhook target on 127.0.0.1; private destinations are allowed for the test's duration."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    server = Receiver()
    yield server
    server.close()
