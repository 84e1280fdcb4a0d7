"""The fault suite: real PostgreSQL, Redis, gunicorn, celery worker and beat as separate processes, a local
webhook receiver counting by X-Eventsys-Delivery, and four faults injected under load:

(a) kill -9 of the worker's whole process group, 3 times during the firings (faults/scenarios.py)
(b) two beats and two workers side by side (faults/scenarios.py)
(c) the broker, a redis-server the suite starts itself, SIGKILLed and restarted later (faults/scenarios.py)
(d) pg_terminate_backend of the processes' backends during ingest and transactions (faults/writes.py)

Per scenario it prints slots due / logged once / delivered / duplicates / lost, the longest recovery and
what /api/ready/ answered during the faults (the words are defined in faults/firings.py and faults/writes.py;
docs/operations/faults.md explains how to read it). Exits 1 on any loss, duplicate firing, acknowledged write
missing, half-written request, worker or beat that exited by itself, or recovery over 60 s.

Needs PostgreSQL at FAULTS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/eventsys_faults; the
database and <name>_template are dropped and recreated) and `redis-server` on the PATH (each scenario starts
its own on a free port). Processes' logs stay in the directory printed at the end.

Usage: python -m faults.run [--size small|full] [--only abcd]      (make faults [SIZE=small])
small: 300 firings in (a), 15-25 s windows, about 3 minutes on 2 cores when nothing is lost (a drain that
times out adds up to 75 s a scenario); full: 2,000 firings in (a), 60 s in (b), a 20 s Redis outage in (c),
60 s of writes in (d): about 10 minutes.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faults.report import Result, header, print_result, print_summary
from faults.scenarios import SIZES, redis_outage, two_of_each, worker_kills
from faults.stack import database_url, fresh_database, prepare_template
from faults.writes import backend_kills

SCENARIOS = {"a": worker_kills, "b": two_of_each, "c": redis_outage, "d": backend_kills}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--small", action="store_const", const="small", dest="size", help="same as --size small")
    parser.add_argument("--only", default="abcd", help="the scenarios to run, e.g. --only ac")
    args = parser.parse_args()
    if unknown := set(args.only) - SCENARIOS.keys():
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    size = SIZES[args.size]

    # SIGTERM unwinds like Ctrl-C, so every `finally` stops what it started (SIGINT too, even when the
    # shell that started the suite in the background had it ignored).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    from bench.support import web_env

    log_root = Path(tempfile.mkdtemp(prefix="eventsys-faults-"))
    # the suite creates the triggers (the service validates their local URL) and reads the results
    os.environ.update(
        web_env(database_url=database_url("suite"), data_dir=str(log_root), WEBHOOK_ALLOW_PRIVATE_NETWORKS="true")
    )
    prepare_template()
    import django

    django.setup()
    fresh_database()
    header(size.name)

    results = []
    for key in args.only:
        started = time.time()
        try:
            result = SCENARIOS[key](size, log_root)
        except Exception as exc:  # one scenario's crash is its failure; the others still run
            result = Result(key, SCENARIOS[key].__name__.replace("_", " "))
            result.row("crashed", f"{exc.__class__.__name__}: {exc}"[:200])
            result.failures.append("the scenario crashed (traceback above)")
            traceback.print_exc()
        result.seconds = time.time() - started
        print_result(result)
        sys.stdout.flush()
        results.append(result)
    print_summary(results)
    print(f"process logs: {log_root}")
    return 1 if any(result.failures for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
