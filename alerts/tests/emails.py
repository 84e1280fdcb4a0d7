"""What a poll's e-mail messages carry, for the tests that intercept them."""


def triggerings(messages) -> list[tuple[int, int]]:
    """The (alert id, trigger count) of every e-mail in (task, args) messages: one a message, or shared."""
    from alerts.tasks import send_price_alert_emails

    found = []
    for task, args in messages:
        if task is send_price_alert_emails:
            found += [tuple(pair) for pair in args[0]]
        else:
            found.append(tuple(args))
    return found
