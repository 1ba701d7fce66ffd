"""Per-receiver shares of the sender's slots, so a hanging affiliate server delays its own
deliveries only."""

from __future__ import annotations

import contextlib
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

# A receiver whose tries take this long shares a quarter of the slots with the other slow
# ones.
SLOW_HOST_S = 1.0
MAX_KNOWN_RECEIVERS = 10_000
# Rows of a receiver claimed ahead, in shares of the slots (see `hold`).
AHEAD = 8
# A receiver answering faster than this on average gets its requests pipelined (several
# in flight on one connection, app/sender/http1.py); a slower one gets a connection per
# try, since a receiver answers a connection's requests one after the other.
PIPELINE_BELOW_S = 0.05
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def host_key(url: str) -> str:
    """The receiver of a URL, as queries.HOST_KEY_SQL computes it."""
    match = _AUTHORITY.match(url)
    return match.group(1).lower() if match else ""


@dataclass(slots=True)
class Receivers:
    """Tries in flight and recent latency per receiver.

    No receiver holds more than half the slots (a quarter until it has answered once),
    and the slow ones together hold at most a quarter.
    """

    concurrency: int
    in_flight: dict[str, list[float]] = field(default_factory=dict)
    # Moving average of a try, seconds; the least recently used are forgotten.
    latency: OrderedDict[str, float] = field(default_factory=OrderedDict)
    slow: set[str] = field(default_factory=set)

    @property
    def share(self) -> int:
        return max(1, self.concurrency // 2)

    @property
    def slow_share(self) -> int:
        return max(1, self.concurrency // 4)

    def start(self, key: str) -> float:
        started = time.monotonic()
        self.in_flight.setdefault(key, []).append(started)
        return started

    def finish(self, key: str, started: float) -> None:
        elapsed = time.monotonic() - started
        starts = self.in_flight.get(key, [])
        with contextlib.suppress(ValueError):
            starts.remove(started)
        if not starts:
            self.in_flight.pop(key, None)
        previous = self.latency.pop(key, None)
        average = elapsed if previous is None else 0.7 * previous + 0.3 * elapsed
        self.latency[key] = average
        if average >= SLOW_HOST_S:
            self.slow.add(key)
        else:
            self.slow.discard(key)
        if len(self.latency) > MAX_KNOWN_RECEIVERS:
            oldest = next(iter(self.latency))
            if oldest not in self.in_flight:
                del self.latency[oldest]
                self.slow.discard(oldest)

    def pipelines(self, key: str) -> bool:
        """Whether this receiver's tries may be pipelined: it has answered, and fast."""
        latency = self.latency.get(key)
        return latency is not None and latency < PIPELINE_BELOW_S

    def _cap(self, key: str) -> int:
        return self.share if key in self.latency else self.slow_share

    def slow_now(self) -> set[str]:
        # A try running this long marks its receiver slow before it ends.
        since = time.monotonic() - SLOW_HOST_S
        hanging = {key for key, starts in self.in_flight.items() if starts[0] <= since}
        return self.slow | hanging

    def busy(self, waiting: Mapping[str, int] | None = None) -> list[str]:
        """Receivers to leave out of the next claim: those at their share, counting the
        rows claimed and `waiting` in the sender for a slot as a second share."""
        waiting = waiting or {}
        busy = {
            key
            for key in {*self.in_flight, *waiting}
            if len(self.in_flight.get(key, ())) + waiting.get(key, 0) >= self.hold(key)
        }
        slow = self.slow_now()
        held = sum(len(self.in_flight.get(key, ())) + waiting.get(key, 0) for key in slow)
        if held >= self.slow_share:
            busy |= slow
        return sorted(busy)

    def hold(self, key: str) -> int:
        """How many rows of a receiver the sender keeps, in flight and waiting: AHEAD
        times its share (a slow one's: the slow share), so that a slot that frees starts
        the next try without waiting for a claim, and a claim brings many rows."""
        return self.slow_share if key in self.slow_now() else AHEAD * self._cap(key)

    def admit(self, keys: list[str]) -> list[bool]:
        """Which of these claimed rows may start now, their receivers' shares considered."""
        slow = self.slow_now()
        counts = {key: len(starts) for key, starts in self.in_flight.items()}
        slow_total = sum(counts.get(key, 0) for key in slow)
        verdicts = []
        for key in keys:
            ok = counts.get(key, 0) < self._cap(key) and (
                key not in slow or slow_total < self.slow_share
            )
            if ok:
                counts[key] = counts.get(key, 0) + 1
                slow_total += key in slow
            verdicts.append(ok)
        return verdicts
