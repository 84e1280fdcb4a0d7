"""What a poll's e-mail messages carry, for the tests that intercept them."""


def triggerings(messages) -> list[tuple[int, int]]:
    """The (alert id, trigger count) of every e-mail in (task, args) messages: one a message, shared, or
    fanned out."""
    from alerts.models import PriceAlert
    from alerts.tasks import fan_out_price_alert_emails, send_price_alert_emails

    found = []
    for task, args in messages:
        if task is fan_out_price_alert_emails:  # what the worker reads: the triggerings not yet e-mailed
            owed = PriceAlert.objects.filter(status="triggered", notified_at__isnull=True)
            found += list(owed.order_by("triggered_at", "pk").values_list("pk", "trigger_count"))
        elif task is send_price_alert_emails:
            found += [tuple(pair) for pair in args[0]]
        else:
            found.append(tuple(args))
    return found
