"""Execution-log retention: active → archived after TRIGGER_LOG_ARCHIVE_AFTER, deleted after
TRIGGER_LOG_DELETE_AFTER, in bounded batches so one run never holds long locks."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from triggers.models import DeliveryAttempt, ExecutionLog


@dataclass
class RetentionResult:
    archived: int = 0
    deleted: int = 0


def logs_retention_apply(
    *, now: datetime | None = None, batch_size: int = 5000, max_batches: int = 100
) -> RetentionResult:
    now = now or timezone.now()
    result = RetentionResult()
    delete_before = now - settings.TRIGGER_LOG_DELETE_AFTER
    archive_before = now - settings.TRIGGER_LOG_ARCHIVE_AFTER
    for _ in range(max_batches):
        with transaction.atomic():
            ids = list(
                ExecutionLog.objects.filter(created_at__lt=delete_before).values_list("pk", flat=True)[:batch_size]
            )
            DeliveryAttempt.objects.filter(log_id__in=ids).delete()
            ExecutionLog.objects.filter(pk__in=ids).delete()
        result.deleted += len(ids)
        if len(ids) < batch_size:
            break
    for _ in range(max_batches):
        ids = list(
            ExecutionLog.objects.filter(state=ExecutionLog.State.ACTIVE, created_at__lt=archive_before).values_list(
                "pk", flat=True
            )[:batch_size]
        )
        result.archived += ExecutionLog.objects.filter(pk__in=ids).update(state=ExecutionLog.State.ARCHIVED)
        if len(ids) < batch_size:
            break
    return result
