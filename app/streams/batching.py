"""Group commit: concurrent callers share one round trip (to Redis, or one fsync).

Each item waits in a queue; one flusher task hands everything queued to `flush` at once
and resolves every waiter with its result (or with the exception `flush` gave for that
item). While one batch is in flight the next one fills, so batches grow with load and an
idle caller waits for one round trip only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from redis.exceptions import RedisError

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
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
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
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self._budget_s):
                results = await self._flush([item for item, _ in batch])
        except (TimeoutError, RedisError, OSError) as exc:
            error = CommitFailed(str(exc) or type(exc).__name__)
        self.batches += 1
        self.items += len(batch)
        for i, (_, future) in enumerate(batch):
            if future.done():
                continue
            if results is not None:
                result = results[i]
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            else:
                assert error is not None
                future.set_exception(error)
