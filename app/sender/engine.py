"""The sender's loop: claim due deliveries under a lease, try them within each receiver's
share of the slots, and schedule the failed ones again with backoff.

Each try is one delivery_attempts row. Delivery is at-least-once: a row sent but not yet
marked delivered when the sender dies is sent again after its lease, so receivers dedupe
on the X-Tracker-Delivery header (webhooks: on webhook-id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app import outage
from app.db import Pool
from app.sender import deliveries, metrics
from app.sender.attempt import Courier
from app.sender.deliveries import Claimed
from app.sender.receivers import AHEAD, Receivers, host_key
from app.sender.waiting import Waiting
from app.settings import Settings
from app.webhooks import health

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
# Tries recorded in one transaction at most.
RECORD_BATCH = 1000
# After a claim that found fewer due rows than it asked for, the next one waits this long
# (unless nothing is in flight).
CLAIM_GAP_S = 0.05


def next_attempt(
    attempts_done: int, schedule: list[int], retry_after_s: float | None
) -> datetime | None:
    """When to try again after `attempts_done` failures; None when the schedule is spent."""
    if attempts_done > len(schedule):
        return None
    base = schedule[attempts_done - 1]
    delay = base * random.uniform(0.9, 1.1)  # jitter spreads a burst of retries
    if retry_after_s is not None:
        # Capped, so a receiver cannot park a delivery for ever.
        delay = max(delay, min(retry_after_s, float(schedule[-1])))
    return datetime.now(UTC) + timedelta(seconds=delay)


class Sender:
    """Tries go out concurrently; their results are recorded in batches by one recorder
    (a transaction for all the tries that finished while the previous one committed), so
    a commit serves many deliveries. A row stays leased until its try is recorded."""

    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self.receivers = Receivers(settings.sender_concurrency)
        self._courier = Courier(settings, self.receivers)
        self._policy = health.DisablePolicy.of(settings)
        self._done: list[deliveries.Outcome] = []  # tries made, not yet recorded
        self._recording = asyncio.Lock()
        self._tried = asyncio.Event()
        self._releasing: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    async def aclose(self) -> None:
        await self._courier.aclose()

    async def _deliver(self, row: Claimed, key: str, started: float) -> None:
        try:
            attempt = await self._courier.send(row)
        finally:
            self.receivers.finish(key, started)
        retry_at = None
        if not attempt.ok:
            schedule = [] if attempt.permanent else self._settings.sender_retry_schedule_s
            retry_at = next_attempt(row["attempts"] + 1, schedule, attempt.retry_after_s)
        self._done.append(deliveries.Outcome(row["id"], attempt, retry_at, row.get("webhook_id")))
        self._tried.set()

    async def flush(self) -> None:
        """Record every try made so far (a batch of at most RECORD_BATCH at a time)."""
        async with self._recording:
            while self._done:
                batch, self._done = self._done[:RECORD_BATCH], self._done[RECORD_BATCH:]
                await self._record(batch)

    async def _record(self, batch: list[deliveries.Outcome]) -> None:
        try:
            statuses = await deliveries.record_many(self._pool, batch, policy=self._policy)
        except (OSError, asyncpg.PostgresError) as exc:
            # The rows stay leased and are tried again when the lease ends.
            ids = [o.delivery_id for o in batch]
            if outage.server_down(exc) is None:
                logger.exception("recording deliveries %s failed", ids)
            else:  # expected while PostgreSQL is down: one line, no traceback
                logger.warning("recording %d deliveries failed: %s", len(ids), exc)
            return
        for status in statuses:
            if status == "delivered":
                self.sent += 1
                metrics.deliveries_sent.inc()
            elif status == "failed":
                self.failed += 1
                metrics.deliveries_failed.inc()
            else:
                metrics.deliveries_retried.inc()

    async def _recorder(self) -> None:
        while True:
            await self._tried.wait()
            self._tried.clear()
            await self.flush()

    async def _claim(self, limit: int) -> tuple[list[Coroutine[Any, Any, None]], bool]:
        """Claim up to `limit` due rows: a delivery to run for each admitted one, and
        whether some receivers were left out (so an empty claim does not mean idle)."""
        busy = self.receivers.busy()
        rows = await deliveries.claim(self._pool, limit, busy=busy)
        keys = [host_key(row["url"]) for row in rows]
        admitted = self.receivers.admit(keys)
        back = [row for row, ok in zip(rows, admitted, strict=True) if not ok]
        if back:
            await deliveries.release(self._pool, back)
        started = [
            self._deliver(row, key, self.receivers.start(key))
            for row, key, ok in zip(rows, keys, admitted, strict=True)
            if ok
        ]
        return started, bool(busy or back)

    async def run_once(self) -> int:
        """Claim due deliveries, send them concurrently and record the tries; the count
        sent."""
        started, _ = await self._claim(self._settings.sender_concurrency)
        recorder = asyncio.create_task(self._recorder())
        try:
            await asyncio.gather(*started)
            await self.flush()
        finally:
            await _cancelled(recorder)
        return len(started)

    async def run(self, *, stop: asyncio.Event, burst: bool = False) -> None:
        """Keep up to sender_concurrency tries in flight until `stop` (or, in burst mode,
        until nothing is due), then finish and record the tries in hand.

        The next rows are claimed while tries run (one claim at a time, in the
        background) and wait here for a slot of their receiver (`Waiting`), so a freed
        slot starts the next try at once rather than after a claim's round trip."""
        in_flight: set[asyncio.Task[None]] = set()
        waiting = Waiting(self.receivers)
        stopping = asyncio.create_task(stop.wait())
        recorder = asyncio.create_task(self._recorder())
        concurrency = self._settings.sender_concurrency
        # Claiming a few rows per finished try would cost a query each; wait for a batch.
        refill_at = max(1, concurrency // 4)
        claiming: asyncio.Task[list[asyncpg.Record]] | None = None
        asked, busy = 0, False
        claim_after = 0.0  # after a short claim, the table is not asked again at once
        try:
            while not stop.is_set():
                if len(self._done) >= max(RECORD_BATCH, concurrency):
                    # Recording lags behind: no new tries until it catches up.
                    await self.flush()
                if claiming is not None and claiming.done():
                    rows = _claimed(claiming)
                    claiming = None
                    if len(rows) < asked:
                        claim_after = time.monotonic() + CLAIM_GAP_S
                    self._give_back(waiting.add(rows))
                    if not rows and not in_flight and not waiting and not busy:
                        if self._releasing:  # rows given back are due again once they are
                            await asyncio.wait(self._releasing)
                            continue
                        if self._done or self._recording.locked():
                            # Tries not recorded yet may be due again once they are.
                            await self.flush()
                            continue
                        if burst:
                            return
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
                        continue
                for row, key in waiting.ready(concurrency - len(in_flight)):
                    task = asyncio.create_task(self._deliver(row, key, self.receivers.start(key)))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                self._give_back(waiting.expired())
                want = AHEAD * concurrency - len(in_flight) - len(waiting)
                pause = claim_after - time.monotonic() if in_flight else 0.0
                if claiming is None and want >= refill_at and pause <= 0:
                    left_out = waiting.busy()
                    asked, busy = want, bool(left_out)
                    claiming = asyncio.create_task(
                        deliveries.claim(self._pool, want, busy=left_out)
                    )
                await asyncio.wait(
                    {*in_flight, stopping, *([claiming] if claiming else [])},
                    timeout=max(pause, 0.001) if pause > 0 else IDLE_POLL_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            # Stopped, not killed: the tries in hand finish and are recorded, the rows
            # waiting go back.
            if claiming is not None:
                await asyncio.wait({claiming})
                self._give_back(waiting.add(_claimed(claiming)))
            if in_flight:
                await asyncio.wait(in_flight)
            self._give_back(waiting.drain())
            if self._releasing:
                await asyncio.wait(self._releasing)
            await self.flush()
        finally:
            stopping.cancel()
            # Cancelled (killed): unfinished rows keep their lease and come back after it.
            if claiming is not None:
                claiming.cancel()
            for task in [*in_flight, *self._releasing]:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)
            # Idle by now unless killed: a batch cut short stays leased, so is sent again.
            await _cancelled(recorder)

    def _give_back(self, rows: list[Claimed]) -> None:
        """Release claimed rows that will not be tried now (in the background)."""
        if rows:
            task = asyncio.create_task(self._release(rows))
            self._releasing.add(task)
            task.add_done_callback(self._releasing.discard)

    async def _release(self, rows: list[Claimed]) -> None:
        try:
            await deliveries.release(self._pool, rows)
        except (OSError, asyncpg.PostgresError) as exc:
            # They stay leased, and come back when the lease ends.
            logger.warning("releasing %d deliveries failed: %s", len(rows), exc)


def _claimed(task: asyncio.Task[list[asyncpg.Record]]) -> list[asyncpg.Record]:
    """The rows of a finished claim; none when it failed (the loop polls again)."""
    if task.cancelled():
        return []
    exc = task.exception()
    if exc is None:
        return task.result()
    if not isinstance(exc, OSError | asyncpg.PostgresError):
        raise exc
    logger.warning("sender poll failed: %s", exc)
    return []


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
