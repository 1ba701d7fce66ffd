"""One timer per connection of the edge's own protocol (app.edge.front)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Deadline:
    """What is due on a connection, and when: one timer that re-arms itself, so that a
    request costs a deadline set and cleared, not a timer made and cancelled."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timer: asyncio.TimerHandle | None = None
        self.action: Callable[[], None] | None = None  # what is due at `at`
        self.at = 0.0

    def arm(self, delay: float, action: Callable[[], None]) -> None:
        """Run `action` in `delay` seconds, unless the same one is due already (a head read
        in pieces has its timeout from its first byte, not its last)."""
        if action == self.action:
            return
        self.action = action
        self.at = self.loop.time() + delay
        if self.timer is not None and self.timer.when() > self.at:
            self.timer.cancel()
            self.timer = None
        if self.timer is None:
            self.timer = self.loop.call_at(self.at, self._tick)

    def disarm(self) -> None:
        self.action = None  # the timer, if it runs, finds nothing due

    def stop(self) -> None:
        self.action = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _tick(self) -> None:
        self.timer = None
        action = self.action
        if action is None:
            return
        if self.loop.time() < self.at:
            self.timer = self.loop.call_at(self.at, self._tick)
            return
        self.action = None
        action()
