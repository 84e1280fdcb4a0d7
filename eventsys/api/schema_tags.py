"""The OpenAPI schema's tags: one per job, in the order the docs list them (settings imports this,
so it imports nothing of Django)."""

# The OpenAPI tags, one per job, in the order the docs list them; the original services' routes last.
SCHEMA_TAGS = [
    ("accounts", "Register, log in (JWT), API tokens for machines, your profile."),
    ("triggers", "One-off, interval and cron triggers, webhooks, firing by hand, dry runs, execution logs."),
    ("events", "Events with place, times, zone and capacity; registration and attendee lists."),
    ("ingestion", "Machines POST JSON events with an API token; the events ingested."),
    ("price alerts", "Alerts when a coin crosses a price; the latest prices."),
    ("transactions", "Deposits and withdrawals checked against windowed rules; the alerts they raised."),
    ("operations", "Health, readiness, the API root and this schema."),
    ("legacy", "The original services' documented endpoints, in their shapes (docs/migrating.md)."),
]
# First path segment after /api/v1/ -> job.
_JOBS = {
    "auth": "accounts",
    "api-tokens": "accounts",
    "triggers": "triggers",
    "event-logs": "triggers",
    "events": "events",
    "ingest": "ingestion",
    "ingested-events": "ingestion",
    "price-alerts": "price alerts",
    "prices": "price alerts",
    "transactions": "transactions",
    "transaction-alerts": "transactions",
    "alert-rules": "transactions",
}


def job_of_path(path: str) -> str:
    """The job of an /api/ route (the original services' routes are tagged by their own schema class)."""
    if not path.startswith("/api/v1/"):
        return "operations"
    return _JOBS.get(path.removeprefix("/api/v1/").split("/")[0], "operations")
