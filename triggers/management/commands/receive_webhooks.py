"""A local webhook receiver for trying triggers out: prints every delivery it is sent.

    .venv/bin/python manage.py receive_webhooks --port 9000 --secret "$SECRET"

Each POST is answered 204 and printed as one line: the delivery id, whether its signature verifies
(with --secret, the trigger's signing_secret), and the body. A trigger that posts to it needs
WEBHOOK_ALLOW_PRIVATE_NETWORKS=true in the service (the receiver is on this machine).
"""

import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from django.core.management.base import BaseCommand, CommandError

from eventsys.http import verify_signature

MAX_BODY_BYTES = 1_000_000


class Command(BaseCommand):
    help = "Receive webhook deliveries on this machine and print them (for trying triggers out)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9000)
        parser.add_argument("--secret", default="", help="The trigger's signing_secret: signatures are checked.")
        parser.add_argument("--count", type=int, default=0, help="Stop after this many deliveries (0: never).")

    def handle(self, *args, host, port, secret, count, **options):
        command = self
        received = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                nonlocal received
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY_BYTES))
                self.send_response(204)
                self.end_headers()
                command.stdout.write(command.describe(self.headers, body, secret))
                command.stdout.flush()
                received += 1

            def log_message(self, *args):
                pass

        try:
            server = HTTPServer((host, port), Handler)  # one at a time: lines never interleave
        except OSError as error:
            raise CommandError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.stdout.write(f"Receiving webhooks at http://{host}:{port}/ (Ctrl-C stops)")
        self.stdout.flush()
        with server:
            try:
                while not count or received < count:
                    server.handle_request()
            except KeyboardInterrupt:
                pass

    def describe(self, headers, body: bytes, secret: str) -> str:
        delivery = headers.get("X-Eventsys-Delivery", "-")
        if not secret:
            verdict = "signature not checked"
        else:
            try:
                timestamp = int(headers.get("X-Eventsys-Timestamp", ""))
            except ValueError:
                timestamp = 0
            authentic = verify_signature(
                secret,
                delivery_id=delivery,
                timestamp=timestamp,
                body=body,
                signature=headers.get("X-Eventsys-Signature", ""),
                now=int(time.time()),
            )
            verdict = "signature ok" if authentic else "signature BAD"
        return f"delivery {delivery}: {verdict}: {body.decode(errors='replace')}"
