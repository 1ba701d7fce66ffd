"""Claimed rows waiting in the sender for a slot of their receiver.

The sender claims ahead of its free slots, so that a slot that frees starts the next try
at once; those rows wait here. A receiver's rows in flight and waiting are at most
`Receivers.hold` (the slow receivers': the slow share, together), so a slow backlog waits
in the table rather than here, and none waits longer than HOLD_S: far within the lease, so
no other sender can take a row while it waits.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Sequence

from app.sender.deliveries import Claimed
from app.sender.receivers import Receivers, host_key

HOLD_S = 5.0


class Waiting:
    def __init__(self, receivers: Receivers) -> None:
        self._receivers = receivers
        self._rows: dict[str, deque[tuple[Claimed, float]]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def busy(self) -> list[str]:
        """Receivers to leave out of the next claim (`Receivers.busy`)."""
        return self._receivers.busy({key: len(rows) for key, rows in self._rows.items()})

    def add(self, rows: Sequence[Claimed]) -> list[Claimed]:
        """Keep the claimed rows their receivers have room for; the others, to give back."""
        receivers, now = self._receivers, time.monotonic()
        back: list[Claimed] = []
        slow = receivers.slow_now()
        slow_room = receivers.slow_share - sum(
            len(receivers.in_flight.get(key, ())) + len(self._rows.get(key, ())) for key in slow
        )
        room: dict[str, int] = {}
        for row in rows:
            key = host_key(row["url"])
            if key not in room:
                held = len(receivers.in_flight.get(key, ())) + len(self._rows.get(key, ()))
                room[key] = receivers.hold(key) - held
            if room[key] <= 0 or (key in slow and slow_room <= 0):
                back.append(row)
                continue
            room[key] -= 1
            slow_room -= key in slow
            self._rows.setdefault(key, deque()).append((row, now))
            self._count += 1
        return back

    def ready(self, free: int) -> list[tuple[Claimed, str]]:
        """Up to `free` rows that may start now, as their receivers' shares allow, taken
        from each receiver in turn."""
        if free <= 0 or not self._count:
            return []
        share = self._receivers.share
        turns = (itertools.repeat(key, min(len(rows), share)) for key, rows in self._rows.items())
        keys = [key for turn in itertools.zip_longest(*turns) for key in turn if key is not None]
        started: list[tuple[Claimed, str]] = []
        for key, ok in zip(keys, self._receivers.admit(keys), strict=True):
            if ok:
                started.append((self._rows[key].popleft()[0], key))
                if len(started) == free:
                    break
        self._forget_empty()
        self._count -= len(started)
        return started

    def expired(self) -> list[Claimed]:
        """Rows that waited HOLD_S, to give back."""
        limit, back = time.monotonic() - HOLD_S, []
        for rows in self._rows.values():
            while rows and rows[0][1] < limit:
                back.append(rows.popleft()[0])
        if back:
            self._forget_empty()
            self._count -= len(back)
        return back

    def drain(self) -> list[Claimed]:
        back = [row for rows in self._rows.values() for row, _ in rows]
        self._rows.clear()
        self._count = 0
        return back

    def _forget_empty(self) -> None:
        for key in [key for key, rows in self._rows.items() if not rows]:
            del self._rows[key]
