"""Group commit: concurrent callers share one round trip (to Redis, or one fsync).

Each item waits in a queue; one flusher task hands everything queued to `flush` at once
and resolves every waiter with its result (or with the exception `flush` gave for that
item). While one batch is in flight the next one fills, so batches grow with load and an
idle caller waits for one round trip only.

A waiter is a future (`submit`, for a caller that awaits) or a plain callback
(`submit_then`, the edge's hot path): the flusher, once the batch's one round trip is
answered, calls every callback of the batch in one pass, in the order submitted, with
the item's result or exception. No future, no done-callback scheduled per item: a
batch of clicks is one future (the round trip's) and one pass that writes its replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class CommitFailed(Exception):
    """The batch was not acknowledged (in time)."""


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        max_batch: int,
        budget_s: float | None = None,
        name: str = "group-commit",
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._budget_s = budget_s
        self._name = name
        self._queue: list[tuple[T, asyncio.Future[R] | Callable[[R | Exception], object]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # The server has finished its requests by now; flush anything still queued.
        while self._queue:
            await self._send_next()

    def submit(self, item: T) -> asyncio.Future[R]:
        """Queue an item; the future gets its result once the batch is flushed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return future

    def submit_then(self, item: T, then: Callable[[R | Exception], object]) -> None:
        """Queue an item; `then` is called with its result, or the exception that failed
        it, once its batch is flushed (from the flusher, with the batch's other callbacks
        in one pass: never before the batch's round trip is answered)."""
        self._queue.append((item, then))
        self._wakeup.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._send_next()

    async def _send_next(self) -> None:
        batch = self._queue[: self._max_batch]
        del self._queue[: self._max_batch]
        results: Sequence[R | Exception] | None = None
        error: Exception | None = None
        try:
            async with asyncio.timeout(self._budget_s):
                results = await self._flush([item for item, _ in batch])
        except (TimeoutError, RedisError, OSError) as exc:
            error = CommitFailed(str(exc) or type(exc).__name__)
        self.batches += 1
        self.items += len(batch)
        for i, (_, waiter) in enumerate(batch):
            outcome: R | Exception
            if results is not None:
                outcome = results[i]
            else:
                assert error is not None
                outcome = error
            if not isinstance(waiter, asyncio.Future):
                try:
                    waiter(outcome)
                except Exception:  # one caller's fault: the batch's others still hear
                    logger.exception("%s: a callback failed", self._name)
                continue
            if waiter.done():
                continue
            if isinstance(outcome, Exception):
                waiter.set_exception(outcome)
            else:
                waiter.set_result(outcome)
