"""gunicorn's settings wherever eventsys is served: `make run`, the Dockerfile, docker-compose.yml and
bench/ (gunicorn reads ./gunicorn.conf.py from its working directory; command-line flags still win).

Threaded workers (gthread) keep each client's connection open between requests (keep-alive), so a
machine posting events or transactions pays no TCP handshake per request, and a request waiting on
the database leaves the CPU to another thread of the same worker.
"""

import logging
import os

wsgi_app = "eventsys.wsgi:application"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 30
graceful_timeout = 10

# LOG_FORMAT=json (docs/configuration.md): gunicorn's own lines, start-up and access log included, are
# one JSON object each like Django's and Celery's. A logger class rather than logconfig_dict: it only
# re-formats the handlers gunicorn sets up from --error-logfile/--access-logfile, so where they write
# (stderr; stdout for the access log) and whether the access log is on stay as the command line says
# (a logconfig_dict would switch the access log on wherever it is off).
if os.environ.get("LOG_FORMAT", "plain") == "json":
    from gunicorn.glogging import Logger

    class JsonLogger(Logger):
        def setup(self, cfg):
            super().setup(cfg)  # run again on a reload (HUP), which replaces the handlers
            from eventsys.logformat import AccessJsonFormatter, JsonFormatter  # cwd is on sys.path by now

            for log, formatter in ((self.error_log, JsonFormatter()), (self.access_log, AccessJsonFormatter())):
                for handler in log.handlers:
                    if isinstance(handler, logging.StreamHandler):  # stderr, stdout or a file; not syslog
                        handler.setFormatter(formatter)

    logger_class = JsonLogger
    # The JSON line has its own time: the request line, status, size, referrer and user agent.
    access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
