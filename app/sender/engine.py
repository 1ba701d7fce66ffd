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
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app import outage
from app.db import Pool
from app.sender import deliveries, metrics
from app.sender.attempt import Courier
from app.sender.deliveries import Claimed
from app.sender.receivers import Receivers, host_key
from app.settings import Settings
from app.webhooks import health

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0
# Tries recorded in one transaction at most.
RECORD_BATCH = 1000


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
        until nothing is due), then finish and record the tries in hand."""
        in_flight: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        recorder = asyncio.create_task(self._recorder())
        concurrency = self._settings.sender_concurrency
        # Claiming a few rows per finished try would cost a query each; wait for a batch.
        refill_at = max(1, concurrency // 4)
        try:
            while not stop.is_set():
                free = concurrency - len(in_flight)
                if len(self._done) >= max(RECORD_BATCH, concurrency):
                    # Recording lags behind: no new tries until it catches up.
                    await self.flush()
                claimed, held_back = 0, False
                if free >= refill_at or not in_flight:
                    try:
                        started, held_back = await self._claim(free)
                    except (OSError, asyncpg.PostgresError) as exc:
                        logger.warning("sender poll failed: %s", exc)
                        started = []
                    claimed = len(started)
                    for delivery in started:
                        task = asyncio.create_task(delivery)
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                if not in_flight and not claimed:
                    if held_back:
                        continue  # the receivers left out are free again by now
                    if self._done or self._recording.locked():
                        # Tries not recorded yet may be due again once they are.
                        await self.flush()
                        continue
                    if burst:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
                    continue
                await asyncio.wait(
                    {*in_flight, stopping},
                    timeout=None if free - claimed < refill_at else IDLE_POLL_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if in_flight:
                await asyncio.wait(in_flight)
            await self.flush()  # stopped, not killed: what was tried is recorded
        finally:
            stopping.cancel()
            # Cancelled (killed): unfinished rows keep their lease and come back after it.
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)
            # Idle by now unless killed: a batch cut short stays leased, so is sent again.
            await _cancelled(recorder)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
