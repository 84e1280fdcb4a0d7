"""`manage.py checkready [component …]`: exit 0 when the named readiness checks pass, 1 otherwise.

For container health checks and exec probes, e.g. `manage.py checkready beat` in beat's container.
With no component, every check that would make /api/ready/ a 503 must pass (a failing cache only
degrades it, and so does a stopped dispatcher); a component named explicitly, those included, must pass.
"""

from django.core.management.base import BaseCommand, CommandError

from eventsys.ops.services import DEGRADABLE_CHECKS, readiness_report


class Command(BaseCommand):
    help = "Exit 0 when the named readiness checks (database, broker, cache, beat, worker, dispatcher) pass."

    def add_arguments(self, parser):
        # Checked in handle(): argparse (3.11) refuses no component at all when `choices` is given.
        parser.add_argument("components", nargs="*", metavar="{database,broker,cache,beat,worker,dispatcher}")

    def handle(self, *args, components, **options):
        unknown = sorted(set(components) - {"database", "broker", "cache", "beat", "worker", "dispatcher"})
        if unknown:
            raise CommandError(f"unknown component(s): {', '.join(unknown)}")
        report = readiness_report()
        failing = []
        for name in components or list(report):
            check = report[name]
            self.stdout.write(f"{name}: {'ok' if check.ok else 'FAILING'} ({check.detail})")
            # With no names, as /api/ready/: a degradable check (cache, dispatcher) failing is not "not ready".
            if not check.ok and (components or name not in DEGRADABLE_CHECKS):
                failing.append(name)
        if failing:
            raise CommandError(f"not ready: {', '.join(failing)}")
