"""eventsys settings: every value comes from an environment variable (see docs/configuration.md).

The defaults alone run the product on a bare machine: SQLite, a broker that needs no server
(kombu's filesystem transport) and e-mail printed to the console.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from eventsys.environment import (
    env_bool,
    env_choice,
    env_duration,
    env_int,
    env_list,
    env_networks,
    env_path,
    env_rate,
    env_str,
    env_time_zone,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("DATA_DIR", BASE_DIR / "data")

# --- Core -------------------------------------------------------------------------------------

DEVELOPMENT_SECRET_KEY = "django-insecure-eventsys-development-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set to a secret value when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = True
LANGUAGE_CODE = "en-us"
# Admin and template times to the second with their zone ("2026-12-02 18:00:00 IST"): eventsys/formats/.
FORMAT_MODULE_PATH = ["eventsys.formats"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "eventsys.ops",
    "accounts",
    "triggers",
    "alerts",
    "events",
]

MIDDLEWARE = [
    "eventsys.request_limits.RequestBodyLimitMiddleware",
    "eventsys.request_limits.ControlCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "eventsys.urls"
WSGI_APPLICATION = "eventsys.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "eventsys" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "static")
# Outside DEBUG, static files are collected (`manage.py collectstatic`) and served by WhiteNoise.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Database ---------------------------------------------------------------------------------


def _database_from_url(url: str) -> dict:
    scheme = url.split(":", 1)[0].lower()
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be sqlite:///… or postgres://…, got scheme {scheme!r}")
    try:
        config = dj_database_url.parse(
            url,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Writers queue for the lock (IMMEDIATE) instead of failing mid-transaction; WAL lets
        # readers proceed while one process writes. Persistent connections buy nothing here.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
DATABASES = {"default": _database_from_url(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # PostgreSQL binds the parameters itself and keeps the plan of any statement a connection has run
    # five times: the hot statements (token look-up, a transaction's look-back) are parsed and planned
    # once per connection, not once per request (their database CPU: 190 to 45 µs for the look-back).
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

# --- Cache (throttling counters) ---------------------------------------------------------------


def cache_from_url(url: str, *, timeout_ms: int) -> dict:
    """The default cache for CACHE_URL.

    Redis calls are bounded by `timeout_ms` (connect and each reply) and fail open
    (eventsys/ops/cache.py): an outage is a cache miss and an allowed request, counted, warned about
    once per interval, and named by /api/ready/ as degraded.
    """
    if url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if url.startswith(("redis://", "rediss://")):
        timeout = timeout_ms / 1000
        return {
            "BACKEND": "eventsys.ops.cache.FailOpenRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout},
        }
    raise ImproperlyConfigured(f"CACHE_URL must be locmem:// or redis://…, got {url!r}")


CACHE_URL = env_str("CACHE_URL", "locmem://")
CACHE_TIMEOUT_MS = env_int("CACHE_TIMEOUT_MS", 250, minimum=1)
# After a cache error a process stops asking the cache this long; it warns at most once per interval.
CACHE_FAIL_OPEN_SECONDS = env_int("CACHE_FAIL_OPEN_SECONDS", 5, minimum=1)
CACHE_WARNING_INTERVAL_SECONDS = env_int("CACHE_WARNING_INTERVAL_SECONDS", 60, minimum=1)
CACHES = {"default": cache_from_url(CACHE_URL, timeout_ms=CACHE_TIMEOUT_MS)}

# --- Auth -------------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    # Tokens carry a hash of the password they were issued under: a password change or reset ends
    # every access token at once, not only the refresh tokens it blacklists.
    "CHECK_REVOKE_TOKEN": True,
}

# Failed logins lock a (username, client address) pair for a cool-off period after
# LOGIN_FAILURE_LIMIT, so an attacker elsewhere cannot lock the owner out; every address together
# may fail LOGIN_USERNAME_FAILURE_LIMIT times for one username before it is locked everywhere
# (against password spraying from many addresses). Failures older than the cool-off are forgotten.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_USERNAME_FAILURE_LIMIT = env_int("LOGIN_USERNAME_FAILURE_LIMIT", 50, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)

# The client's address is REMOTE_ADDR unless the request came from one of these proxies (addresses
# or CIDR blocks); then X-Forwarded-For is read from the right, skipping them (eventsys/client_address.py).
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES", [])

# --- API --------------------------------------------------------------------------------------

REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "eventsys.api.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 20, minimum=1),
    "DEFAULT_FILTER_BACKENDS": [
        "eventsys.api.filters.RejectUnknownQueryParams",
        "eventsys.api.filters.ListFilterBackend",
    ],
    "EXCEPTION_HANDLER": "eventsys.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "eventsys.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "eventsys.api.schema.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "eventsys.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "eventsys.api.throttling.AnonRateThrottle",
        "eventsys.api.throttling.UserRateThrottle",
        "eventsys.api.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_rate("THROTTLE_ANON", "120/min"),
        "user": env_rate("THROTTLE_USER", "1200/min"),
        "auth": env_rate("THROTTLE_AUTH", "10/min"),
        "password_reset": env_rate("THROTTLE_PASSWORD_RESET", "5/hour"),
        "registration": env_rate("THROTTLE_REGISTRATION", "30/min"),
        "ingest": env_rate("THROTTLE_INGEST", "600/min"),
        "price_backtest": env_rate("THROTTLE_PRICE_BACKTEST", "20/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 100, minimum=1)

# The original services' endpoints (see the README's migration section) need a token where the
# originals needed none; naming a user here lets those adapters act as that user when no token is
# sent, for old clients on a private network. Empty (the default) means a token is always required.
LEGACY_DEFAULT_OWNER = env_str("LEGACY_DEFAULT_OWNER", "")

from eventsys.api.schema_tags import SCHEMA_TAGS  # noqa: E402  (the docs' order: one tag per job, legacy last)

SPECTACULAR_SETTINGS = {
    "TITLE": "eventsys API",
    "DESCRIPTION": "Triggers, price alerts, event ingestion, events and attendees, transaction monitoring.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "TAGS": [{"name": name, "description": description} for name, description in SCHEMA_TAGS],
    # Several models have a `status`; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "TriggerStatusEnum": "triggers.models.Trigger.Status",
        "DeliveryStatusEnum": "triggers.models.ExecutionLog.DeliveryStatus",
        "AttendeeStatusEnum": "events.models.Attendee.Status",
        "PriceAlertStatusEnum": "alerts.models.PriceAlert.Status",
        "TransactionTypeEnum": "alerts.models.TransactionType",
    },
}

# --- Celery -----------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.split(":", 1)[0] not in {"filesystem", "redis", "rediss", "amqp", "amqps", "pyamqp"}:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL must be filesystem://, redis://… or amqp://…, got {CELERY_BROKER_URL!r}"
    )
BROKER_DATA_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DATA_DIR / "queue"),
        "data_folder_out": str(BROKER_DATA_DIR / "queue"),
        "control_folder": str(BROKER_DATA_DIR / "control"),
        "store_processed": False,
    }
    for folder in ("queue", "control"):
        (BROKER_DATA_DIR / folder).mkdir(parents=True, exist_ok=True)
else:
    # Redis redelivers an unacknowledged message after this many seconds; it must exceed the
    # longest task (time limits below) so acks_late tasks are not run twice while still running.
    # Deliveries held by a worker killed with SIGKILL do not wait for it: the sweeper re-sends them
    # within seconds (worker heartbeats and the queue probe, triggers/services/delivery.py).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        CELERY_BROKER_TRANSPORT = "eventsys.broker:Transport"  # kombu's, surviving a Redis outage
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Keep database connections across tasks (eventsys/celery.py recycles them by CONN_MAX_AGE).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
# System tasks (dispatch, sweep, retention, heartbeat) have their own queue, so a backlog of
# deliveries never delays the dispatcher: workers consume both queues (kombu alternates between
# them), and a busy deployment can run a worker dedicated to `system` (`-Q system`).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("system"), Queue("celery")]
CELERY_TASK_ROUTES = {
    name: {"queue": "system"}
    for name in (
        "triggers.dispatch",
        "triggers.sweep",
        "triggers.retention",
        "events.ingest_retention",
        "accounts.prune_login_lockouts",
        "alerts.poll_prices",
        "alerts.refresh_coins",
        "eventsys.heartbeat",
        "eventsys.rollup",
        "eventsys.idempotency_expire",
    )
}
CELERY_BEAT_SCHEDULER = "eventsys.ops.scheduler:HeartbeatDatabaseScheduler"
# Beat re-reads its schedule from the database at least this often (seconds).
CELERY_BEAT_MAX_LOOP_INTERVAL = 5

HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 10, minimum=1)
READY_HEARTBEAT_MAX_AGE = env_int("READY_HEARTBEAT_MAX_AGE", 60, minimum=1)
READY_CHECK_TIMEOUT = env_int("READY_CHECK_TIMEOUT", 3, minimum=1)
# GET /metrics (Prometheus): off unless enabled; with a token, only a scraper that sends it is answered.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# Each worker instance (eventsys/ops/workers.py) records that it is alive this often, from a thread of
# its parent process; one not heard for WORKER_PRESUMED_DEAD_SECONDS while another worker is heard is
# presumed dead and the sweeper re-sends the attempts it held. Several missed beats, so that a stalled
# database connection or a busy host is not taken for a crash (that would send an attempt twice).
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 5, minimum=1)
WORKER_PRESUMED_DEAD_SECONDS = env_int("WORKER_PRESUMED_DEAD_SECONDS", 20, minimum=3)
if WORKER_PRESUMED_DEAD_SECONDS < 3 * WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("WORKER_PRESUMED_DEAD_SECONDS must be at least 3 times WORKER_HEARTBEAT_SECONDS")

# A create sent with an Idempotency-Key is answered the same to a resend this long (eventsys/api/idempotency.py).
IDEMPOTENCY_KEY_HOURS = env_int("IDEMPOTENCY_KEY_HOURS", 24, minimum=1)

# --- Triggers ---------------------------------------------------------------------------------

TRIGGER_LOG_ARCHIVE_AFTER = env_duration("TRIGGER_LOG_ARCHIVE_AFTER", "2h")
TRIGGER_LOG_DELETE_AFTER = env_duration("TRIGGER_LOG_DELETE_AFTER", "48h")
if TRIGGER_LOG_DELETE_AFTER <= TRIGGER_LOG_ARCHIVE_AFTER:
    raise ImproperlyConfigured("TRIGGER_LOG_DELETE_AFTER must be longer than TRIGGER_LOG_ARCHIVE_AFTER")
TRIGGER_DISPATCH_BATCH = env_int("TRIGGER_DISPATCH_BATCH", 2000, minimum=1)
# How long a dispatch run keeps firing later slots at their own time (it sleeps between them, holding
# one worker slot); beat sends the next run after 1 s. 0: slots fire on the beat, up to 1 s late.
TRIGGER_DISPATCH_HORIZON_MS = env_int("TRIGGER_DISPATCH_HORIZON_MS", 900, minimum=0)
TRIGGER_MISFIRE_GRACE_SECONDS = env_int("TRIGGER_MISFIRE_GRACE_SECONDS", 60, minimum=1)
TRIGGER_DELIVERY_MAX_ATTEMPTS = env_int("TRIGGER_DELIVERY_MAX_ATTEMPTS", 6, minimum=1)
# Threads per worker process that send the deliveries of one message side by side (their waits overlap).
TRIGGER_DELIVERY_SENDERS = env_int("TRIGGER_DELIVERY_SENDERS", 8, minimum=1)
TRIGGER_RETRY_BASE_SECONDS = env_int("TRIGGER_RETRY_BASE_SECONDS", 10, minimum=1)
TRIGGER_RETRY_MAX_SECONDS = env_int("TRIGGER_RETRY_MAX_SECONDS", 3600, minimum=1)
TRIGGER_DISABLE_AFTER_FAILURES = env_int("TRIGGER_DISABLE_AFTER_FAILURES", 5, minimum=1)
# The sweeper re-sends a delivery within seconds of a worker crash (triggers/services/delivery.py): an
# attempt whose worker stopped beating (WORKER_PRESUMED_DEAD_SECONDS), a message the queue has moved
# past (the queue probe). These two are backstops for what that cannot see: a running attempt owns its
# log at most TRIGGER_DELIVERY_LEASE_SECONDS (longer than the task's time limit), an enqueued one
# TRIGGER_REQUEUE_AFTER_SECONDS (an hour: re-sending a deep queue by age alone would duplicate all of it).
TRIGGER_DELIVERY_LEASE_SECONDS = env_int("TRIGGER_DELIVERY_LEASE_SECONDS", 120, minimum=60)
TRIGGER_REQUEUE_AFTER_SECONDS = env_int("TRIGGER_REQUEUE_AFTER_SECONDS", 3600, minimum=60)
TRIGGER_MAX_PAYLOAD_BYTES = env_int("TRIGGER_MAX_PAYLOAD_BYTES", 64 * 1024, minimum=1024)
# The dispatcher's watchdog (triggers/services/watchdog.py): stopped when a slot has been due this long and
# no firing was logged in as long; staff (WATCHDOG_EMAILS, else staff users' addresses) are e-mailed.
WATCHDOG_GRACE_SECONDS = env_int("WATCHDOG_GRACE_SECONDS", 60, minimum=5)
WATCHDOG_EMAILS = env_list("WATCHDOG_EMAILS", [])

# The system schedule, declared once; DatabaseScheduler upserts these rows by name at start.
CELERY_BEAT_SCHEDULE = {
    "eventsys.heartbeat": {
        "task": "eventsys.heartbeat",
        "schedule": timedelta(seconds=HEARTBEAT_SECONDS),
        "options": {"expire_seconds": HEARTBEAT_SECONDS * 3},
    },
    "eventsys.rollup": {
        "task": "eventsys.rollup",
        "schedule": timedelta(minutes=5),
        "options": {"expire_seconds": 240},
    },
    "eventsys.idempotency_expire": {
        "task": "eventsys.idempotency_expire",
        "schedule": timedelta(minutes=10),
        "options": {"expire_seconds": 300},
    },
    "triggers.dispatch": {
        "task": "triggers.dispatch",
        "schedule": timedelta(seconds=1),
        "options": {"expire_seconds": 5},
    },
    "triggers.sweep": {
        "task": "triggers.sweep",
        "schedule": timedelta(seconds=5),
        "options": {"expire_seconds": 30},
    },
    "triggers.retention": {
        "task": "triggers.retention",
        "schedule": timedelta(minutes=10),
        "options": {"expire_seconds": 300},
    },
    # On the default queue, not `system`: a dead or stuck system worker (the dispatcher's) is still seen.
    "triggers.watchdog": {
        "task": "triggers.watchdog",
        "schedule": timedelta(seconds=30),
        "options": {"expire_seconds": 30},
    },
}

# --- Event ingestion and the propagator --------------------------------------------------------

INGEST_MAX_BATCH = env_int("INGEST_MAX_BATCH", 1000, minimum=1)
INGEST_MAX_EVENT_BYTES = env_int("INGEST_MAX_EVENT_BYTES", 32 * 1024, minimum=256)
INGEST_MAX_REQUEST_BYTES = env_int("INGEST_MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
INGEST_RETENTION_DAYS = env_int("INGEST_RETENTION_DAYS", 0, minimum=0)
# An occurred_at further ahead of the server's clock than this is flagged, not trusted.
INGEST_FUTURE_TOLERANCE_SECONDS = env_int("INGEST_FUTURE_TOLERANCE_SECONDS", 300, minimum=0)

PROPAGATOR_URL = env_str("PROPAGATOR_URL", "")
PROPAGATOR_TOKEN = env_str("PROPAGATOR_TOKEN", "")
PROPAGATOR_INTERVAL_SECONDS = env_int("PROPAGATOR_INTERVAL_SECONDS", 5, minimum=1)
PROPAGATOR_SAMPLES_PATH = env_path("PROPAGATOR_SAMPLES_PATH", BASE_DIR / "events" / "samples" / "events.json")
PROPAGATOR_BATCH_SIZE = env_int("PROPAGATOR_BATCH_SIZE", 1, minimum=1)

CELERY_BEAT_SCHEDULE["accounts.prune_login_lockouts"] = {
    "task": "accounts.prune_login_lockouts",
    "schedule": timedelta(hours=1),
    "options": {"expire_seconds": 1800},
}
CELERY_BEAT_SCHEDULE["events.ingest_retention"] = {
    "task": "events.ingest_retention",
    "schedule": timedelta(hours=1),
    "options": {"expire_seconds": 1800},
}
# The propagator's beat entry is created disabled by a migration; an operator switches it on and
# re-times it in the admin. Setting PROPAGATOR_ENABLED makes beat apply it (and the interval) at
# every start instead, so the environment wins when it speaks and the admin's choice stands otherwise.
if os.environ.get("PROPAGATOR_ENABLED", "").strip():
    CELERY_BEAT_SCHEDULE["events.propagate"] = {
        "task": "events.propagate",
        "schedule": timedelta(seconds=PROPAGATOR_INTERVAL_SECONDS),
        "enabled": env_bool("PROPAGATOR_ENABLED", False),
        "options": {"expire_seconds": PROPAGATOR_INTERVAL_SECONDS},
    }

# --- Price alerts ---------------------------------------------------------------------------------

COINGECKO_API_URL = env_str("COINGECKO_API_URL", "https://api.coingecko.com/api/v3").rstrip("/")
COINGECKO_API_KEY = env_str("COINGECKO_API_KEY", "")
# Free (demo) plan: 10,000 calls a month. One poll is one call per 250 coins, so every 300 s is
# 8,640 calls a month for up to 250 coins, with room for the daily catalogue refresh (README).
PRICE_POLL_SECONDS = env_int("PRICE_POLL_SECONDS", 300, minimum=1)
COINGECKO_IDS_PER_CALL = env_int("COINGECKO_IDS_PER_CALL", 250, minimum=1)
# Pages of 250 coins of CoinGecko's market-cap ranking fetched with the daily catalogue refresh (one call
# each): a symbol several coins share names the best-ranked of them. 0: no ranking, such a symbol is a 400.
COINGECKO_RANKED_PAGES = env_int("COINGECKO_RANKED_PAGES", 4, minimum=0)
# A price whose source time is older than this is recorded but not acted on.
PRICE_MAX_AGE_SECONDS = env_int("PRICE_MAX_AGE_SECONDS", 900, minimum=1)
PRICE_TICK_RETENTION_DAYS = env_int("PRICE_TICK_RETENTION_DAYS", 7, minimum=1)
# A price backtest's CoinGecko price history (/coins/{id}/market_chart) is kept this long in the cache,
# per coin, currency and days: backtests of other targets on the same history make no new call.
PRICE_BACKTEST_CACHE_SECONDS = env_int("PRICE_BACKTEST_CACHE_SECONDS", 300, minimum=0)

CELERY_BEAT_SCHEDULE["alerts.poll_prices"] = {
    "task": "alerts.poll_prices",
    "schedule": timedelta(seconds=PRICE_POLL_SECONDS),
    "options": {"expire_seconds": PRICE_POLL_SECONDS},
}
# E-mails owed for triggerings over two minutes old whose message never reached a worker (a broker outage).
CELERY_BEAT_SCHEDULE["alerts.fan_out_price_alert_emails"] = {
    "task": "alerts.fan_out_price_alert_emails",
    "schedule": timedelta(minutes=5),
    "args": [120],
    "options": {"expire_seconds": 240},
}
CELERY_BEAT_SCHEDULE["alerts.refresh_coins"] = {
    "task": "alerts.refresh_coins",
    "schedule": timedelta(days=1),
    "options": {"expire_seconds": 3600},
}

# --- Outbound HTTP (webhooks, price polling, the propagator): eventsys/http.py --------------

# Off: requests to loopback, private, link-local, multicast and metadata addresses are refused.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_CONNECT_TIMEOUT = env_int("WEBHOOK_CONNECT_TIMEOUT", 5, minimum=1)
WEBHOOK_READ_TIMEOUT = env_int("WEBHOOK_READ_TIMEOUT", 10, minimum=1)
WEBHOOK_MAX_RESPONSE_BYTES = env_int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1024)
# Idle connections are kept this long for the next request to the same host and address; 0: never reused.
WEBHOOK_KEEPALIVE_SECONDS = env_int("WEBHOOK_KEEPALIVE_SECONDS", 30, minimum=0)

# --- E-mail -----------------------------------------------------------------------------------

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
EMAIL_FILE_PATH = str(env_path("EMAIL_FILE_PATH", DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "eventsys <noreply@localhost>")

# --- Logging ----------------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
# json: one JSON object per line (time, level, logger, message, exc_info) for log collectors.
LOG_FORMAT = env_choice("LOG_FORMAT", "plain", {"plain", "json"})
# The frequent system tasks: their idle runs are not logged at INFO (eventsys/logformat.py).
LOG_QUIET_TASKS = [
    "triggers.dispatch",
    "triggers.sweep",
    "triggers.queue_probe",
    "triggers.watchdog",
    "eventsys.heartbeat",
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "eventsys.logformat.JsonFormatter"},
    },
    "filters": {
        "quiet_housekeeping": {"()": "eventsys.logformat.QuietHousekeeping", "tasks": LOG_QUIET_TASKS},
        # kombu warns at every connection of a broker URL without a host (filesystem:// has none to give)
        # that it uses "localhost", which is what such a URL means.
        "no_hostname_warning": {"()": "eventsys.logformat.DropMessages", "prefixes": ["No hostname was supplied"]},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default configuration gives "django" a console handler of its own when DEBUG is on;
        # with the root's, every 4xx warning from django.request was printed twice. The root's only, and
        # never Django's DEBUG records (every SQL query when DEBUG is on).
        "django": {"handlers": [], "level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL, "propagate": True},
        "celery.beat": {"filters": ["quiet_housekeeping"]},
        "celery.worker.strategy": {"filters": ["quiet_housekeeping"]},
        "celery.app.trace": {"filters": ["quiet_housekeeping"]},
        "kombu.connection": {"filters": ["no_hostname_warning"]},
    },
}
# The worker logs what tasks print (the console e-mail backend prints each e-mail) as this level,
# not as warnings; eventsys/celery.py gives celery's own handlers LOG_FORMAT too.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"

# --- Security when served for real ------------------------------------------------------------

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
