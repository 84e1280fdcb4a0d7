"""The admin dashboard's verdicts: each check and each job's figures (eventsys.ops.figures) judged
green, amber or red, with the reason in words and the admin list behind it. Pure: no queries here."""

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from eventsys.ops.figures import Figures
from eventsys.ops.rollup import lateness_quantile
from eventsys.ops.services import DEGRADABLE_CHECKS

OK, WARN, FAIL = "ok", "warn", "fail"
# A delivery older than these is late (amber), then stuck (red).
BACKLOG_WARN_SECONDS, BACKLOG_FAIL_SECONDS = 60, 600
# A triggered alert's e-mail still unsent after these: the mail server is slow (amber), then failing (red).
EMAIL_WARN_SECONDS, EMAIL_FAIL_SECONDS = 300, 3600
# The last hour's p99 dispatch lateness: slots fire within a second; a minute is the misfire grace.
LATENESS_WARN_SECONDS, LATENESS_FAIL_SECONDS = 5, 60


# Readiness checks that only degrade /api/ready/ (a load balancer keeps the replica) but are red here: a
# stopped dispatcher means no trigger fires, whatever the web answers.
_RED_ON_THE_DASHBOARD = frozenset({"dispatcher"})
# The admin list behind a check: the active triggers, by next run, for the dispatcher.
_CHECK_LINKS = {"dispatcher": ("triggers_trigger", "status__exact=active&o=5")}


@dataclass(frozen=True)
class Verdict:
    name: str
    level: str  # ok | warn | fail
    reason: str
    link: str = ""  # the admin list behind the figure


def service_health(figures: Figures) -> list[Verdict]:
    verdicts = [
        Verdict(
            name,
            OK if check.ok else (WARN if name in DEGRADABLE_CHECKS - _RED_ON_THE_DASHBOARD else FAIL),
            check.detail,
            _admin_list(*_CHECK_LINKS[name]) if name in _CHECK_LINKS else "",
        )
        for name, check in figures.checks.items()
    ]
    verdicts += [
        _backlog(figures),
        _lateness(figures),
        _failing(figures),
        _disabled(figures),
        *_price_polls(figures),
        _emails(figures),
        _ingest(figures),
    ]
    return verdicts


def overall(verdicts: list[Verdict]) -> str:
    levels = {verdict.level for verdict in verdicts}
    return FAIL if FAIL in levels else WARN if WARN in levels else OK


def _backlog(figures: Figures) -> Verdict:
    age, pending = figures.oldest_pending_seconds, figures.deliveries_pending
    link = _admin_list("triggers_executionlog", "status__exact=pending")
    if not pending:
        return Verdict("delivery backlog", OK, "no delivery waiting", link)
    level = FAIL if age > BACKLOG_FAIL_SECONDS else WARN if age > BACKLOG_WARN_SECONDS else OK
    return Verdict("delivery backlog", level, f"{pending} waiting, the oldest for {age:.0f} s", link)


def _lateness(figures: Figures) -> Verdict:
    link = _admin_list("triggers_executionlog", "source__exact=schedule")
    p99 = lateness_quantile(figures.lateness_last_hour, 0.99)
    if p99 is None:
        return Verdict("dispatch lateness", OK, "no scheduled firing in the last hour", link)
    level = FAIL if p99 > LATENESS_FAIL_SECONDS else WARN if p99 > LATENESS_WARN_SECONDS else OK
    firings = sum(figures.lateness_last_hour.values())
    reason = f"p99 {p99:.2f} s over {firings} scheduled firing(s) in the last hour"
    return Verdict("dispatch lateness", level, reason, link)


def _emails(figures: Figures) -> Verdict:
    link = _admin_list("alerts_pricealert", "status__exact=triggered&notified_at__isnull=True")
    count, age = figures.alert_emails_unsent, figures.oldest_unsent_email_seconds
    if not count:
        return Verdict("alert e-mails", OK, "every triggered alert's e-mail sent", link)
    level = FAIL if age > EMAIL_FAIL_SECONDS else WARN if age > EMAIL_WARN_SECONDS else OK
    return Verdict("alert e-mails", level, f"{count} not sent yet, the oldest for {age:.0f} s", link)


def _failing(figures: Figures) -> Verdict:
    count = figures.triggers_failing
    reason = f"{count} webhook trigger(s) whose latest deliveries failed" if count else "no trigger failing"
    return Verdict(
        "failing triggers", WARN if count else OK, reason, _admin_list("triggers_trigger", "deliveries=failing")
    )


def _disabled(figures: Figures) -> Verdict:
    count = figures.triggers_by_status.get("disabled", 0)
    reason = f"{count} trigger(s) disabled after failing deliveries" if count else "no trigger disabled"
    return Verdict(
        "disabled triggers", WARN if count else OK, reason, _admin_list("triggers_trigger", "status__exact=disabled")
    )


def _price_polls(figures: Figures) -> list[Verdict]:
    link = _admin_list("alerts_providerstate")
    if not figures.price_sources:
        level = WARN if figures.live_price_alerts else OK
        reason = "never polled" + (
            f", {figures.live_price_alerts} live alert(s) waiting" if figures.live_price_alerts else ""
        )
        return [Verdict("price polls", level, reason, link)]
    verdicts = []
    interval = settings.PRICE_POLL_SECONDS
    for source in figures.price_sources:
        if source.last_success_at is None:
            age_text, age = "never answered", float("inf")
        else:
            age = (figures.now - source.last_success_at).total_seconds()
            age_text = f"last answered {max(age, 0):.0f} s ago"
        level = OK if age <= 2 * interval else WARN if age <= 5 * interval else FAIL
        if not figures.live_price_alerts and level != OK:
            level = WARN  # nothing waits on it
        error = (
            f"; {source.consecutive_failures} failure(s): {source.last_error}" if source.consecutive_failures else ""
        )
        verdicts.append(Verdict(f"price polls ({source.name})", level, age_text + error, link))
    return verdicts


def _ingest(figures: Figures) -> Verdict:
    return Verdict(
        "ingest", OK, f"{figures.ingested_last_hour} event(s) in the last hour", _admin_list("events_ingestedevent")
    )


def _admin_list(model: str, query: str = "") -> str:
    return reverse(f"admin:{model}_changelist") + (f"?{query}" if query else "")
