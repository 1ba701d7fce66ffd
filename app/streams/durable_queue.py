"""A stream with the local spool behind it: how the web app queues what it must not lose.

A record is acknowledged once Redis holds it (group-committed XADD within the budget) or,
when Redis is down or slow, once it is fsync'd to the spool, which a task replays into
the stream when Redis answers again. The redirect (clicks) and the postback intake
(conversions) follow the same rules.

With REDIS_WAIT_REPLICAS set, "Redis holds it" means the master and that many replicas:
replication is asynchronous, so a batch the master took but its replicas did not confirm
within REDIS_WAIT_MS is spooled as well, as the script stored it. A failover then loses
nothing acknowledged; a record both replicated late and spooled is stored once (the
sinks dedupe), and the reconciliation balances, since the spool's replay counts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.settings import Settings
from app.streams import keys
from app.streams.batching import CommitFailed
from app.streams.producer import Refused, Shard, StreamProducer, Unconfirmed
from app.streams.spool import Spool

logger = logging.getLogger(__name__)

# What `put` raises: the group commit's own, and the producer's refusal.
__all__ = ["CommitFailed", "DurableQueue", "Refused", "Unconfirmed", "replay_forever"]

REPLAY_INTERVAL_S = 1.0


async def replay_forever(spool: Spool, replay: Callable[[], Awaitable[int]]) -> None:
    """Call `replay` whenever the spool holds files, until cancelled."""
    while True:
        await asyncio.sleep(REPLAY_INTERVAL_S)
        if not spool.has_files():
            continue
        try:
            await replay()
        except (RedisError, OSError) as exc:
            logger.warning("spool replay deferred: %s", exc)


class DurableQueue:
    def __init__(
        self,
        redis: Redis,
        *,
        stream: str,
        settings: Settings,
        admission: str | None = None,
        admission_keys: Callable[[str], Sequence[str]] | None = None,
        stored_refused: Callable[[bytes], bytes] | None = None,
    ) -> None:
        """`admission`: Lua run on records put with admission arguments, reading
        `admission_keys` besides the shard's (StreamProducer); `stored_refused`: the
        record as that script stores one it refused but kept (a capped click)."""
        self.stream = stream
        self.producer = StreamProducer(
            settings.require_urls()[1],
            keys.shard_keys(stream, settings.stream_shards),
            budget_s=settings.redis_budget_ms / 1000,
            max_batch=settings.enqueue_max_batch,
            admission=admission,
            admission_keys=admission_keys,
            wait_replicas=settings.redis_wait_replicas,
            wait_ms=settings.redis_wait_ms,
        )
        self._stored_refused = stored_refused or (lambda record: record)
        self.spool = Spool(settings.tracker_data_dir / "spool", stream)
        # This process's own figures (logs, tests). The reconciliation's counts are kept
        # by the Redis scripts that add records to the streams, and by the spool files.
        self.spooled = 0
        self._replayer: asyncio.Task[None] | None = None
        # One replay at a time: the replays share the producer's one replay connection.
        self._replaying = asyncio.Lock()

    def start(self) -> None:
        self.producer.start()
        self.spool.start()
        self._replayer = asyncio.create_task(
            replay_forever(self.spool, self.replay), name=f"{self.stream}-spool-replay"
        )

    async def stop(self) -> None:
        if self._replayer is not None:
            self._replayer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replayer
        await self.producer.stop()
        await self.spool.stop()

    def shard_for(self, pin: int) -> Shard:
        """The shard every record pinned by `pin` goes to, its stream key with it: the
        keys an admission script counts on must share that key's hash tag."""
        return self.producer.shard_for(pin)

    def submit(
        self,
        record: bytes,
        *,
        shard: Shard | None = None,
        admission: Sequence[bytes] | None = None,
    ) -> asyncio.Future[bool]:
        """Queue the record for the group commit without waiting (the redirect's fast
        lane): the future is the producer's, so a CommitFailed or Unconfirmed from it
        leaves the record to `keep`, which `put` does itself."""
        return self.producer.enqueue(
            record, shard=None if shard is None else shard.index, admission=admission
        )

    def submit_then(
        self,
        record: bytes,
        then: Callable[[bool | Exception], object],
        *,
        shard: Shard | None = None,
        admission: Sequence[bytes] | None = None,
    ) -> None:
        """`submit` with a callback in place of the future (the edge's hot path: one pass
        per batch answers its requests). `then` gets a CommitFailed or Unconfirmed as it
        is, and the record is then the caller's to `keep`."""
        self.producer.enqueue_then(
            record, then, shard=None if shard is None else shard.index, admission=admission
        )

    async def put(
        self,
        record: bytes,
        *,
        shard: Shard | None = None,
        admission: Sequence[bytes] | None = None,
    ) -> bool:
        """Return once Redis or the spool holds the record; CommitFailed if neither.

        False when the admission script refused the record but stored it as it said,
        Refused when it refused to store it (`admission`: its arguments, see
        StreamProducer); a spooled record is admitted without the script.
        """
        try:
            return await self.submit(record, shard=shard, admission=admission)
        except (CommitFailed, Unconfirmed) as exc:
            return await self.keep(record, exc)

    async def keep(self, record: bytes, failure: CommitFailed | Unconfirmed) -> bool:
        """Keep in the spool (fsync'd) a record whose batch `failure` left unsafe, and say
        whether it was admitted; CommitFailed if the disk did not take it either.

        CommitFailed: Redis did not take it, the spool holds it admitted (without the
        script). Unconfirmed: Redis has it already (counted there); the spool keeps it as
        stored, through a failover.
        """
        admitted = True
        if isinstance(failure, Unconfirmed):
            admitted = failure.admitted
            if not admitted:
                record = self._stored_refused(record)
        await self.spool.append(record)
        self.spooled += 1
        return admitted

    async def replay(self) -> int:
        """Move spooled records into the stream; the count moved."""
        async with self._replaying:
            moved = await self.spool.replay(self.producer.send_now)
        if moved:
            logger.info("replayed %d spooled %s into the stream", moved, self.stream)
        return moved

    @contextlib.asynccontextmanager
    async def redis_unreachable(self) -> AsyncIterator[None]:
        """Inside, every batch fails as when Redis is down, so records go to the spool
        (the tests of spooling and replay; a drill)."""
        working = self.producer
        # Nothing listens on port 9 (discard): every batch fails at once.
        self.producer = StreamProducer(
            "redis://127.0.0.1:9/0", working.keys, budget_s=0.05, max_batch=64
        )
        self.producer.start()
        try:
            yield
        finally:
            await self.producer.stop()
            self.producer = working
