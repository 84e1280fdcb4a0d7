"""Every write and rule about triggers: lifecycle, dispatch, delivery, retention."""

from triggers.services.delivery import deliveries_attempt, deliveries_requeue, delivery_attempt, retry_delay
from triggers.services.dispatch import DispatchResult, dispatch_due, dispatch_due_until
from triggers.services.redeliver import (
    DeliveryInProgress,
    NothingToDeliver,
    TestNotRedelivered,
    TriggerNotActive,
    execution_log_redeliver,
    trigger_redeliver_failed,
)
from triggers.services.retention import RetentionResult, logs_retention_apply
from triggers.services.triggers import (
    TriggerCompleted,
    execution_logs_visible_to,
    trigger_create,
    trigger_delete,
    trigger_fire,
    trigger_pause,
    trigger_resume,
    trigger_rotate_secret,
    trigger_schedule,
    trigger_test,
    trigger_upcoming,
    trigger_update,
    triggers_visible_to,
)

__all__ = [
    "DeliveryInProgress",
    "DispatchResult",
    "NothingToDeliver",
    "RetentionResult",
    "TestNotRedelivered",
    "TriggerCompleted",
    "TriggerNotActive",
    "deliveries_attempt",
    "deliveries_requeue",
    "delivery_attempt",
    "dispatch_due",
    "dispatch_due_until",
    "execution_log_redeliver",
    "execution_logs_visible_to",
    "logs_retention_apply",
    "retry_delay",
    "trigger_create",
    "trigger_delete",
    "trigger_fire",
    "trigger_pause",
    "trigger_redeliver_failed",
    "trigger_resume",
    "trigger_rotate_secret",
    "trigger_schedule",
    "trigger_test",
    "trigger_upcoming",
    "trigger_update",
    "triggers_visible_to",
]
