"""Group commit: concurrent requests share one Redis round trip.

Each record waits in a queue; one flusher task sends everything queued as a single
EVALSHA (a Lua script doing the XADDs), and resolves every waiter when Redis answers.
While one batch is in flight the next one fills, so batches grow with load and an idle
request waits for one round trip only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# XADD each ARGV as field "r" of a new entry of KEYS[1]; return how many were added.
XADD_ALL = """
for i = 1, #ARGV do
  redis.call('XADD', KEYS[1], '*', 'r', ARGV[i])
end
return #ARGV
"""


class EnqueueFailed(Exception):
    """Redis did not acknowledge the batch within the budget."""


class StreamProducer:
    def __init__(
        self, redis: Redis, keys: Sequence[str], *, budget_s: float, max_batch: int
    ) -> None:
        self._redis = redis
        self._keys = itertools.cycle(keys)
        self._budget_s = budget_s
        self._max_batch = max_batch
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._script = redis.register_script(XADD_ALL)

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="stream-producer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        # The server has finished its requests by now; send anything still queued.
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            await self._send(batch)

    def enqueue(self, record: bytes) -> asyncio.Future[None]:
        """Queue a record; the future completes once Redis holds it, or fails."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((record, future))
        self._wakeup.set()
        return future

    async def send_now(self, records: list[bytes]) -> None:
        """XADD records directly, with no budget (the spool replayer's path)."""
        await self._script(keys=[next(self._keys)], args=records)

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._send(batch)

    async def _send(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self._budget_s):
                await self._script(keys=[next(self._keys)], args=[r for r, _ in batch])
        except (TimeoutError, RedisError, OSError) as exc:
            error = exc
        for _, future in batch:
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(EnqueueFailed(str(error) or type(error).__name__))
