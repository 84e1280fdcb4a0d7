from django.core.management.base import BaseCommand

from triggers.services import logs_retention_apply


class Command(BaseCommand):
    help = (
        "Archive execution logs older than TRIGGER_LOG_ARCHIVE_AFTER "
        "and delete those older than TRIGGER_LOG_DELETE_AFTER."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, batch_size, **options):
        result = logs_retention_apply(batch_size=batch_size, max_batches=1_000_000)
        self.stdout.write(f"archived {result.archived}, deleted {result.deleted}")
