"""Cost of authenticating, through gunicorn on PostgreSQL as deployed, beside limits in the same run.

Cases, each over keep-alive connections to the same gunicorn (DEBUG off, gunicorn.conf.py):
  health        GET  /api/health/        no authentication, no database: the server's ceiling (limit)
  jwt           GET  /api/v1/auth/me/    with a JWT access token
  api-token     GET  /api/v1/auth/me/    with an API token (its last use written once a minute)
  login         POST /api/v1/auth/token/ username and password with the deployed password hasher
                                         (settings.PASSWORD_HASHERS[0], PBKDF2 unless configured)
Authenticated requests are reported as a ratio to health; logins to their own limit, the hasher: one
check_password() in this process (median of 5), i.e. how many logins a second the server's cores could
do if a login were nothing but the hash. p99 is the nearest-rank percentile.

Targets (--check exits 1 if one is missed): every request answered 200.

Usage: python bench/auth/run.py [--requests 2000] [--logins 40] [--check]
Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/eventsys_bench_auth).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from support import Targets, add_check_argument, gunicorn, percentile, post_all, recreate_database, web_env  # noqa: E402

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/eventsys_bench_auth")
PASSWORD = "a-Strong-passw0rd"


def hasher_seconds() -> float:
    from django.contrib.auth.hashers import check_password, make_password

    encoded = make_password(PASSWORD)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert check_password(PASSWORD, encoded)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000, help="per authenticated case")
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    add_check_argument(parser)
    args = parser.parse_args()

    env = web_env(
        database_url=DATABASE_URL,
        data_dir=tempfile.mkdtemp(prefix="eventsys-bench-auth-"),
        THROTTLE_ANON="100000000/min",
        THROTTLE_USER="100000000/min",
        THROTTLE_AUTH="100000000/min",
    )
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    recreate_database(DATABASE_URL)

    import django

    django.setup()
    from django.conf import settings

    from accounts import services
    from accounts.models import User

    user = User.objects.create_user(username="bench", password=PASSWORD)
    access = services.user_login(username="bench", password=PASSWORD).access
    _, api_token = services.api_token_create(user=user, name="bench")
    hasher = settings.PASSWORD_HASHERS[0].rsplit(".", 1)[1]
    hash_seconds = hasher_seconds()

    login = json.dumps({"username": "bench", "password": PASSWORD}).encode()
    cases = [
        ("health", "", [("GET", "/api/health/", None)] * args.requests),
        ("jwt", access, [("GET", "/api/v1/auth/me/", None)] * args.requests),
        ("api-token", api_token, [("GET", "/api/v1/auth/me/", None)] * args.requests),
        ("login", "", [("POST", "/api/v1/auth/token/", login)] * args.logins),
    ]
    rows = {}
    with gunicorn(env, workers=args.web_workers, threads=args.threads) as port:
        for _, token, requests in cases:  # warm-up: imports, connections
            post_all(port, "", token, requests[:20], args.clients)
        for name, token, requests in cases:
            rows[name] = post_all(port, "", token, requests, args.clients)

    print(
        f"PostgreSQL, gunicorn {args.web_workers} workers x {args.threads} threads, {args.clients} keep-alive clients,"
        f" DEBUG off; password hasher {hasher}: {hash_seconds * 1000:.0f} ms a check in this process"
    )
    print(f"{'case':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs limit':>9}  answers")
    health_rate = len(rows["health"][1]) / rows["health"][0]
    hash_rate = min(os.cpu_count() or 1, args.web_workers * args.threads) / hash_seconds
    failed = 0
    for name, (elapsed, latencies, statuses) in rows.items():
        rate = len(latencies) / elapsed
        limit = hash_rate if name == "login" else health_rate
        failed += sum(n for status, n in statuses.items() if status != 200)
        print(
            f"{name:<10} {len(latencies):>8} {rate:>8.0f} {percentile(latencies, 0.5) * 1000:>8.1f}"
            f" {percentile(latencies, 0.99) * 1000:>8.1f} {rate / limit:>9.0%}  {dict(sorted(statuses.items()))}"
        )
    print(f"limits: health for authenticated requests ({health_rate:.0f}/s); for logins the hasher alone on every"
          f" core ({hash_rate:.1f}/s)")  # fmt: skip
    targets = Targets()
    targets.add("every request answered 200", f"{failed} not", failed == 0)
    targets.report(args.check)


if __name__ == "__main__":
    main()
