"""gunicorn's settings wherever eventsys is served: `make run`, the Dockerfile, docker-compose.yml and
bench/ (gunicorn reads ./gunicorn.conf.py from its working directory; command-line flags still win).

Threaded workers (gthread) keep each client's connection open between requests (keep-alive), so a
machine posting events or transactions pays no TCP handshake per request, and a request waiting on
the database leaves the CPU to another thread of the same worker.
"""

import os

wsgi_app = "eventsys.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 30
graceful_timeout = 10
