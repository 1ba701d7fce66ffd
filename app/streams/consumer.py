"""A consumer-group loop over the shards of one stream, for any handler.

Each entry is acked only after its handler has committed it. A batch whose handler
fails for an entry's fault (not the infrastructure's) goes again one entry at a time,
here and nowhere else, and an entry that fails alone goes, with its error, to the
shard's dead-letter stream in the same script call as its ack, which also counts each
entry once (app.streams.outcome). Entries a dead consumer left pending are reclaimed
with XAUTOCLAIM; those delivered too often go one at a time too, but the delivery count
alone never dead-letters an entry. Streams are trimmed only below the oldest entry still
pending or undelivered. Stopping finishes the batch in hand; burst mode runs until the
streams are empty. On a Redis Cluster each shard gets a loop of its own (one XREADGROUP
may only name keys of one slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from app.redis import is_cluster_client
from app.streams import keys
from app.streams.faults import Faults
from app.streams.outcome import SETTLE, BatchOutcome, settle_args

logger = logging.getLogger(__name__)

Entry = tuple[str, bytes]
# Stores a batch; says what became of each entry (stored unless the outcome names it).
Handler = Callable[[list[Entry]], Awaitable[BatchOutcome]]

TRIM_INTERVAL_S = 10.0
# Failures of the infrastructure, not of an entry: the entries stay pending and are retried.
INFRASTRUCTURE_ERRORS = (RedisError, OSError, asyncpg.PostgresError)
# PostgreSQL refusing a value (class 22: a value out of range or badly encoded; class 23: a
# constraint the row breaks; class 54: a value too large, such as an index row) is an
# entry's fault, not an outage: retried forever it would stop its whole shard. The batch
# is retried entry by entry instead.
ENTRY_ERRORS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


def _infrastructure(exc: BaseException) -> bool:
    return isinstance(exc, INFRASTRUCTURE_ERRORS) and not isinstance(exc, ENTRY_ERRORS)


ERROR_BACKOFF_S = 1.0


@dataclass
class Counters:
    read: int = 0
    # Entries settled as stored (a new row or one already there), and rows newly written.
    stored: int = 0
    inserted: int = 0
    acked: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    failures: int = 0


@dataclass
class StreamConsumer:
    redis: Redis
    stream_keys: Sequence[str]
    handler: Handler
    consumer: str
    batch: int = 2000
    block_ms: int = 1000
    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 5
    # Called once per loop before reading (e.g. to put due retries back on the stream);
    # returns how much it did. Burst mode calls it on the first loop only, so a burst
    # run ends even while entries wait for a later retry.
    on_poll: Callable[[], Awaitable[int]] | None = None
    # Called once when `run` starts, before the first read, and once when it ends.
    on_start: Callable[[], Awaitable[None]] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None
    counters: Counters = field(default_factory=Counters)
    faults: Faults = field(default_factory=Faults)
    _last_trim: float = 0.0
    _stop: asyncio.Event | None = None
    _settle: AsyncScript | None = None

    async def ensure_groups(self) -> None:
        for key in self.stream_keys:
            try:
                await self.redis.xgroup_create(key, keys.GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _finish(self, key: str, entries: list[Entry], outcome: BatchOutcome) -> None:
        """Ack entries and count each one the ack took (dead letters and retries with it),
        in one script: see app.streams.outcome."""
        if self._settle is None:
            self._settle = self.redis.register_script(SETTLE)
        reply = await self._settle(
            keys=[key, keys.dead_letter_key(key), keys.retry_key(key), keys.metrics_key(key)],
            args=settle_args(keys.GROUP, entries, outcome),
        )
        counts = {_text(name): int(n) for name, n in zip(reply[1::2], reply[2::2], strict=True)}
        self.counters.acked += int(reply[0])
        self.counters.stored += counts.get("stored", 0)
        self.counters.dead_lettered += counts.get("dead_lettered", 0)
        for entry_id, error in outcome.poison:
            logger.error("dead-lettered %s %s: %s", key, entry_id, error)

    async def _process(self, key: str, entries: list[Entry], *, singly: bool = False) -> None:
        """Store entries and ack them. An error that is not the infrastructure's (Redis,
        PostgreSQL, the network: those leave the entries pending, to be retried) makes
        the batch go again one entry at a time, so a bad entry is dead-lettered with
        its own error and cannot hold back, or crash, the others."""
        if not entries:
            return
        self.counters.read += len(entries)
        if singly:
            outcome = await self._one_by_one(entries)
        else:
            try:
                outcome = await self.handler(entries)
            except Exception as exc:
                if _infrastructure(exc):
                    raise
                logger.exception("a batch of %d entries failed; retrying them singly", len(entries))
                outcome = await self._one_by_one(entries)
        self.counters.inserted += outcome.inserted
        self.faults.after_commit()
        await self._finish(key, entries, outcome)

    async def _one_by_one(self, entries: list[Entry]) -> BatchOutcome:
        outcome = BatchOutcome()
        for entry in entries:
            try:
                outcome.merge(await self.handler([entry]))
            except Exception as exc:
                if _infrastructure(exc):
                    raise
                # This entry's own fault: dead-letter it, with why.
                outcome.poison.append((entry[0], f"{type(exc).__name__}: {exc}"))
        return outcome

    async def reclaim(self) -> int:
        """Take over entries pending longer than the idle limit (a dead consumer's)."""
        taken = 0
        for key in self.stream_keys:
            cursor = "0-0"
            while True:
                reply = await self.redis.xautoclaim(
                    key,
                    keys.GROUP,
                    self.consumer,
                    self.reclaim_idle_ms,
                    start_id=cursor,
                    count=self.batch,
                )
                cursor = _text(reply[0])
                entries = _entries(reply[1])
                if entries:
                    taken += len(entries)
                    await self._process_reclaimed(key, entries)
                if cursor == "0-0":
                    break
        self.counters.reclaimed += taken
        return taken

    async def _process_reclaimed(self, key: str, entries: list[Entry]) -> None:
        """Entries delivered many times go one at a time: each is then stored, or
        dead-lettered with its own error. The delivery count alone never dead-letters an
        entry, so a database outage, which makes every batch fail, loses nothing."""
        pending = await self.redis.xpending_range(
            key, keys.GROUP, min=entries[0][0], max=entries[-1][0], count=len(entries) * 2
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        worn = [e for e in entries if deliveries.get(e[0], 0) > self.max_deliveries]
        worn_ids = {e[0] for e in worn}
        await self._process(key, [e for e in entries if e[0] not in worn_ids])
        await self._process(key, worn, singly=True)

    async def read_new(self, block_ms: int | None) -> int:
        reply: Any = await self.redis.xreadgroup(
            keys.GROUP,
            self.consumer,
            dict.fromkeys(self.stream_keys, ">"),
            count=self.batch,
            block=block_ms,
        )
        batches = [(_text(key), _entries(raw)) for key, raw in reply or []]
        await self.faults.holding(batches, self._stop)
        for key, entries in batches:
            await self._process(key, entries)
        return sum(len(entries) for _, entries in batches)

    async def trim(self) -> None:
        """Drop entries below the oldest one still pending or not yet delivered."""
        for key in self.stream_keys:
            groups = await self.redis.xinfo_groups(key)
            floor = None
            for group in groups:
                if _text(group["name"]) != keys.GROUP:
                    continue
                floor = _text(group["last-delivered-id"])
                summary = await self.redis.xpending(key, keys.GROUP)
                if summary["pending"]:
                    floor = min(floor, _text(summary["min"]), key=_id_key)
            if floor and floor != "0-0":
                await self.redis.xtrim(key, minid=floor, approximate=True)

    async def run(self, *, stop: asyncio.Event, burst: bool = False) -> None:
        """Consume until `stop` is set (or, in burst mode, until the streams are empty)."""
        self._stop = stop
        if self.on_start is not None:
            await self.on_start()
        try:
            await self.ensure_groups()
            if is_cluster_client(self.redis) and len(self.stream_keys) > 1:
                await self._consume_per_shard(stop, burst=burst)
            else:
                await self._consume(stop, burst=burst)
        finally:
            if self.on_stop is not None:
                await self.on_stop()

    async def _consume_per_shard(self, stop: asyncio.Event, *, burst: bool) -> None:
        """On Redis Cluster one XREADGROUP may name keys of one slot only: a loop per
        shard, sharing this consumer's counters (and its poll, run by the first)."""
        loops = [
            replace(self, stream_keys=[key], on_poll=None if i else self.on_poll)
            for i, key in enumerate(self.stream_keys)
        ]
        for loop in loops:
            loop._stop = stop
        if burst:
            for loop in loops:
                await loop._consume(stop, burst=True)
        else:
            await asyncio.gather(*(loop._consume(stop, burst=False) for loop in loops))

    async def _consume(self, stop: asyncio.Event, *, burst: bool) -> None:
        if burst:
            # Burst mode takes over anything pending at once: tests stay exact and fast.
            self.reclaim_idle_ms = 0
        polls = 0
        while not stop.is_set():
            try:
                if self.on_poll is not None and not (burst and polls):
                    await self.on_poll()
                polls += 1
                reclaimed = await self.reclaim()
                read = await self.read_new(None if burst else self.block_ms)
                if time.monotonic() - self._last_trim > TRIM_INTERVAL_S:
                    await self.trim()
                    self._last_trim = time.monotonic()
            except INFRASTRUCTURE_ERRORS as exc:
                self.counters.failures += 1
                if burst:
                    raise
                logger.warning("worker batch failed, retrying: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), ERROR_BACKOFF_S)
                continue
            if burst and not reclaimed and not read:
                return


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _entries(raw: Any) -> list[Entry]:
    # XAUTOCLAIM reports entries deleted meanwhile as nil: nothing to store for those.
    return [(_text(item[0]), item[1].get(b"r", b"")) for item in raw if item is not None]


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"
