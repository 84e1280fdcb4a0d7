"""The suite's output: a header naming the machine, one small table per scenario, and a verdict."""

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faults.firings import Figures
from faults.probe import summary

RECOVERY_LIMIT = 60.0  # seconds; the bound for every scenario


@dataclass
class Result:
    key: str
    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (figure, value, target)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def row(self, name: str, value, target: str = "") -> None:
        self.rows.append((name, value if isinstance(value, str) else f"{value:,}", target))


def seconds_text(value: float | None) -> str:
    return "not recovered" if value is None else f"{value:.1f} s"


def add_firings(
    result: Result, f: Figures, *, drain: float, faulted: bool, recovery: str = "longest recovery", notes: bool = True
) -> None:
    """The firing rows every scenario prints, and the failures they imply (`notes`: a line per fault)."""
    result.row("slots due", f.due)
    result.row("logged once", f.logged_once, "every due slot (less coalesced)")
    result.row("duplicates (2+ logs for one slot)", f.duplicates, "0")
    result.row("coalesced by fire_once (missed_slots)", f.coalesced)
    result.row("delivered (distinct ids answered 2xx)", f.delivered, f"all {f.logged:,} logged")
    repeat_target = "at-least-once: the receiver dedups" if faulted else "0 (nothing was killed)"
    result.row("same id received again (redelivered)", f.redelivered, repeat_target)
    result.row("lost (never delivered + never logged)", f"{f.lost:,} ({f.never_delivered} + {f.never_logged})", "0")
    if f.unknown_ids:
        result.row("requests with an unknown delivery id", f.unknown_ids, "0")
    result.row("deliveries that needed 2+ attempts", f.retried)
    if f.recoveries:
        result.row(recovery, seconds_text(f.longest_recovery), f"<= {RECOVERY_LIMIT:.0f} s")
        for fault, seconds, waiting in f.recoveries if notes else ():
            if seconds is None:
                outcome = f"NOT all delivered by the end of the drain (counting from when{fault.note})"
            else:
                outcome = f"all delivered {seconds:.1f} s after{fault.note}"
            result.notes.append(
                f"{fault.label}: {waiting} firing(s) due by its end undelivered when it began; {outcome}"
            )
    if f.still_pending:
        result.notes.append(
            f"{f.still_pending} delivery(ies) still pending when the drain ended; the last lease runs out in "
            f"{max(f.lease_left, 0):.0f} s (the sweeper re-sends after that; see the worker log for the cause)"
        )
    if f.lost:
        result.failures.append(f"{f.lost} firing(s) lost (not delivered {drain:.0f} s after the run)")
    if f.duplicates:
        result.failures.append(f"{f.duplicates} slot(s) logged more than once")
    if f.unknown_ids:
        result.failures.append(f"{f.unknown_ids} request(s) with a delivery id no log has")
    if not faulted and f.redelivered:
        result.failures.append(f"{f.redelivered} delivery id(s) received twice with no process killed")
    check_recovery(result, f.longest_recovery if f.recoveries else 0.0)


def add_exits(result: Result, stack) -> None:
    """Processes that died without being killed by the scenario (the suite restarted them)."""
    exits = ", ".join(f"{name} (status {status})" for name, status, _ in stack.exits)
    result.row("processes that exited by themselves", exits or "none", "none (the suite restarts them)")
    if stack.exits:
        result.failures.append(f"{len(stack.exits)} process(es) exited by themselves: {exits}")


def check_recovery(result: Result, longest: float | None) -> None:
    if longest is None:
        result.failures.append("a fault was never recovered from within the drain period")
    elif longest > RECOVERY_LIMIT:
        result.failures.append(f"recovery took {longest:.1f} s (> {RECOVERY_LIMIT:.0f} s)")


def add_ready(
    result: Result, probe, windows: list[tuple[float, float]], *, label: str = "/api/ready/ during the faults"
) -> None:
    """What /api/ready/ answered in the windows (start, end in epoch s): status and failing checks, counted."""
    samples = [sample for start, end in windows for sample in probe.between(start, end)]
    result.row(label, summary(samples))


def machine() -> str:
    """Host, cores (nproc), and the versions of what the scenarios run on."""
    from django.db import connection

    nproc = shutil.which("nproc")
    cores = subprocess.run([nproc], capture_output=True, text=True).stdout.strip() if nproc else os.cpu_count()
    with connection.cursor() as cursor:
        postgres = cursor.execute("SHOW server_version").fetchone()[0].split()[0]
    try:
        redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()[2]
    except (OSError, IndexError):
        redis = "?"
    return (
        f"host {platform.node()}, nproc {cores}, Python {platform.python_version()}, "
        f"PostgreSQL {postgres}, Redis {redis.removeprefix('v=')}"
    )


def header(size: str) -> None:
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"eventsys fault suite, size {size}, {started}")
    print(machine(), flush=True)


def print_result(result: Result) -> None:
    print()
    print(f"({result.key}) {result.title}  [{result.seconds:.0f} s]")
    width = max(len(name) for name, _, _ in result.rows)
    value_width = max((len(value) for _, value, _ in result.rows if len(value) <= 24), default=8)
    for name, value, target in result.rows:
        print(f"  {name:<{width}}  {value:>{value_width}}   {target}".rstrip())
    for note in result.notes:
        print(f"  - {note}")
    verdict = "PASS" if not result.failures else "FAIL: " + "; ".join(result.failures)
    print(f"  {verdict}")


def print_summary(results: list[Result]) -> None:
    print()
    for result in results:
        print(f"({result.key}) {'PASS' if not result.failures else 'FAIL'}  {result.title}")
