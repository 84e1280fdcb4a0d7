"""Cost of authenticating a request, against an unauthenticated baseline in the same run.

Prints requests per second and p50/p99 latency (in-process WSGI, Django's test client) for:
  baseline      GET /api/health/           (no authentication, no database)
  jwt           GET /api/v1/auth/me/       with a JWT access token
  api-token     GET /api/v1/auth/me/       with an API token (last-use written once a minute)
  api-token/w   the same, writing last-use on every request (what the once-a-minute rule saves)

Runs on a throw-away test database: SQLite by default, PostgreSQL when DATABASE_URL says so.
Usage: python bench/auth/run.py [--requests N]   (default 2000: well under a minute)
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventsys.settings")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="eventsys-bench-"))
os.environ["THROTTLE_ANON"] = os.environ["THROTTLE_USER"] = "100000000/min"


def measure(client, path: str, requests: int, **headers) -> tuple[float, float, float]:
    for _ in range(min(50, requests)):  # warm-up
        client.get(path, **headers)
    timings = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path, **headers)
        timings.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.content
    elapsed = time.perf_counter() - started
    timings.sort()
    return requests / elapsed, statistics.median(timings) * 1000, timings[int(len(timings) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts import services
    from accounts.models import User

    setup_test_environment()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0)
    try:
        User.objects.create_user(username="bench", password="a-Strong-passw0rd")
        client = Client()
        access = services.user_login(username="bench", password="a-Strong-passw0rd").access
        _, api_token = services.api_token_create(user=User.objects.get(), name="bench")

        rows = [("baseline", measure(client, "/api/health/", args.requests))]
        rows.append(("jwt", measure(client, "/api/v1/auth/me/", args.requests, HTTP_AUTHORIZATION=f"Bearer {access}")))
        rows.append(
            ("api-token", measure(client, "/api/v1/auth/me/", args.requests, HTTP_AUTHORIZATION=f"Bearer {api_token}"))
        )
        services.API_TOKEN_LAST_USED_RESOLUTION = timedelta(0)
        rows.append(
            (
                "api-token/w",
                measure(client, "/api/v1/auth/me/", args.requests, HTTP_AUTHORIZATION=f"Bearer {api_token}"),
            )
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print(f"database: {connection.vendor}, requests per case: {args.requests}")
    print(f"{'case':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs baseline':>12}")
    baseline = rows[0][1][0]
    for name, (rate, p50, p99) in rows:
        print(f"{name:<12} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f} {rate / baseline:>11.0%}")


if __name__ == "__main__":
    main()
