import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.propagator import propagator_batch, propagator_send


class Command(BaseCommand):
    help = "Send events to an HTTP endpoint every N seconds (the propagator), printing each response."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=settings.PROPAGATOR_URL, help="default: PROPAGATOR_URL")
        parser.add_argument(
            "--token", default=settings.PROPAGATOR_TOKEN, help="bearer token; default: PROPAGATOR_TOKEN"
        )
        parser.add_argument("--every", type=float, default=settings.PROPAGATOR_INTERVAL_SECONDS, help="seconds")
        parser.add_argument("--count", type=int, default=0, help="sends before stopping; 0 runs until Ctrl-C")
        parser.add_argument("--batch", type=int, default=settings.PROPAGATOR_BATCH_SIZE, help="events per send")

    def handle(self, *args, url, token, every, count, batch, **options):
        if not url:
            raise CommandError("Give --url (or set PROPAGATOR_URL).")
        if every <= 0 or batch < 1 or count < 0:
            raise CommandError("--every must be positive, --batch at least 1, --count 0 or more.")
        sent = 0
        try:
            while count == 0 or sent < count:
                started = time.monotonic()
                outcome = propagator_send(url=url, token=token, body=propagator_batch(count=batch))
                sent += 1
                status = outcome.status_code if outcome.status_code is not None else outcome.kind
                line = f"[{sent}] {status} {outcome.latency_ms} ms {outcome.error or outcome.response_excerpt[:300]}"
                self.stdout.write(line)
                if count == 0 or sent < count:
                    time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self.stdout.write(f"stopped after {sent} sends")
