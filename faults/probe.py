"""A /api/ready/ poller: what readiness said, and when, for the report's "during the outage" line."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    at: float  # epoch s, when the answer came
    status: int  # HTTP status; 0 for no answer within the time-out
    failing: tuple[str, ...]  # the checks /api/ready/ named as failing
    degraded: tuple[str, ...] = ()  # and as degraded (served, but without it: the cache)

    @property
    def label(self) -> str:
        if self.status == 0:
            return "no answer"
        parts = [str(self.status)]
        if self.failing:
            parts.append(f"failing {'+'.join(self.failing)}")
        if self.degraded:
            parts.append(f"degraded {'+'.join(self.degraded)}")
        return " ".join(parts) if len(parts) > 1 else f"{self.status} ok"


class ReadyProbe:
    """Polls the URL every `every` seconds in a thread while entered."""

    def __init__(self, url: str, every: float = 1.0, timeout: float = 5.0) -> None:
        self.url, self.every, self.timeout = url, every, timeout
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ready-probe", daemon=True)

    def __enter__(self) -> "ReadyProbe":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.timeout + self.every)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.ask())
            self._stop.wait(self.every)

    def ask(self) -> Sample:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:  # 503 is an answer, not a failure to answer
            status, body = exc.code, exc.read()
        except OSError:
            return Sample(time.time(), 0, ())
        try:
            answer = json.loads(body)
            failing, degraded = tuple(answer.get("failing", ())), tuple(answer.get("degraded", ()))
        except (ValueError, AttributeError):
            failing, degraded = ("unparsable answer",), ()
        return Sample(time.time(), status, failing, degraded)

    def between(self, start: float, end: float) -> list[Sample]:
        return [sample for sample in self.samples if start <= sample.at <= end]


def summary(samples: list[Sample]) -> str:
    """'200 ok x3; 503 failing broker x12', in the order the answers first appeared."""
    if not samples:
        return "no samples"
    counts = Counter(sample.label for sample in samples)
    order = list(dict.fromkeys(sample.label for sample in samples))
    return "; ".join(f"{label} x{counts[label]}" for label in order)
