"""`manage.py checkready [component …]`: exit 0 when the named readiness checks pass, 1 otherwise.

For container health checks and exec probes, e.g. `manage.py checkready beat` in beat's container.
With no component, every check of /api/ready/ must pass.
"""

from django.core.management.base import BaseCommand, CommandError

from eventsys.ops.services import readiness_report


class Command(BaseCommand):
    help = "Exit 0 when the named readiness checks (database, broker, beat, worker) pass."

    def add_arguments(self, parser):
        parser.add_argument("components", nargs="*", choices=["database", "broker", "beat", "worker"])

    def handle(self, *args, components, **options):
        report = readiness_report()
        failing = []
        for name in components or list(report):
            check = report[name]
            self.stdout.write(f"{name}: {'ok' if check.ok else 'FAILING'} ({check.detail})")
            if not check.ok:
                failing.append(name)
        if failing:
            raise CommandError(f"not ready: {', '.join(failing)}")
