"""Group-committed XADD: one EVALSHA (a Lua script doing the XADDs) per batch of records.

One call per batch instead of a pipeline of XADDs measured 55% vs 40% of a raw ASGI
302 in a prototype on this machine: the script call is one request to parse
and one reply to read. Each shard key has its own batcher.

Click caps are counted by the same script, so a capped click costs no extra round
trip: the script INCRs the click's cap counters and, when one is over its limit, takes
the increments back and stores the record with `"d":"cap"`. Cap counters carry the
shard's hash tag (one script, one Cluster slot), so every click of a capped offer goes
to the offer's own shard; other clicks rotate over the shards.

The postback intake's admission refuses (stores nothing, answers -1) a conversion judged
against an advertiser cache whose catalog version is no longer current, in the same
round trip (app.postbacks.freshness); the web process then judges it again.

The script also adds the records it stored to the shard's `enqueued` counter, in the
same atomic step as the XADDs: the reconciliation's count of what went in cannot miss a
record that did, even when the web process is killed the next instant.

With `wait_replicas` (REDIS_WAIT_REPLICAS) each script call is followed by WAIT on its
connection (app.streams.script_connection); a batch the replicas did not confirm answers
Unconfirmed for each stored record, and the caller spools it (app.streams.durable_queue).
"""

from __future__ import annotations

import asyncio
import itertools
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from app.streams import keys as stream_keys
from app.streams.batching import GroupCommit
from app.streams.script_connection import ScriptConnection, Unreplicated, bulks

# ARGV per record: the record, n, then n arguments for the admission script, which
# defines `admit(rec, first, n)`: given the record and where its arguments start in ARGV,
# the record to store and 1 (admitted) or 0 (refused, stored as it says), or false and -1
# (refused, not stored). The admission's own keys are KEYS[3] on. Returns each record's
# 1, 0 or -1; the `enqueued` counter counts the records stored.
XADD_ALL = """
%s
local out = {}
local stored = 0
local i = 1
while i <= #ARGV do
  local rec, n = ARGV[i], tonumber(ARGV[i + 1])
  local ok = 1
  if n > 0 then rec, ok = admit(rec, i + 2, n) end
  i = i + 2 + n
  if rec then
    redis.call('XADD', KEYS[1], '*', 'r', rec)
    stored = stored + 1
  end
  out[#out + 1] = ok
end
redis.call('HINCRBY', KEYS[2], 'enqueued', stored)
return out
"""
ADMIT_ALL = "local function admit(rec, first, n) return rec, 1 end"


class Refused(Exception):
    """The admission script refused the record and did not store it."""


class Unconfirmed(Exception):
    """Redis took the record, but fewer replicas than REDIS_WAIT_REPLICAS confirmed it in
    time: a failover now could lose it, so the caller keeps it elsewhere (the spool)."""

    def __init__(self, admitted: bool) -> None:
        super().__init__("the record is not on enough replicas")
        # As the script answered: False when it stored the record as refused (capped).
        self.admitted = admitted


def xadd_script(admission: str | None = None) -> str:
    """The producer's script, with `admission` (Lua defining `admit`) if given."""
    return XADD_ALL % (admission or ADMIT_ALL)


# KEYS: stream, counters hash, the chunk's replay marker. ARGV: marker TTL, records.
# A chunk goes in once: a replayer that crashed before deleting its spool file sends the
# file again, and the chunks Redis already took are skipped. (Replication keeps the
# order of writes, so a replica that has the marker has the chunk's entries too.)
REPLAY = """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[1]) then
  -- Already in: a write all the same, so that a WAIT after this call covers the chunk.
  redis.call('EXPIRE', KEYS[3], ARGV[1])
  return 0
end
for i = 2, #ARGV do redis.call('XADD', KEYS[1], '*', 'r', ARGV[i]) end
redis.call('HINCRBY', KEYS[2], 'replayed', #ARGV - 1)
return #ARGV - 1
"""
REPLAY_MARKER_TTL_S = 7 * 86400
REPLAY_TIMEOUT_S = 10.0

NO_ARGUMENTS = (b"0",)
# Distinct admission arguments whose RESP a flusher keeps (a link's caps, a catalog
# version's): past this many, it starts again.
MAX_ENCODED = 4096
# (record, admission arguments: [n, then n arguments] or None)
Item = tuple[bytes, Sequence[bytes] | None]


@dataclass(frozen=True, slots=True)
class Shard:
    index: int
    key: str


class StreamProducer:
    def __init__(
        self,
        redis_url: str,
        keys: Sequence[str],
        *,
        budget_s: float,
        max_batch: int,
        admission: str | None = None,
        admission_keys: Callable[[str], Sequence[str]] | None = None,
        wait_replicas: int = 0,
        wait_ms: int = 0,
    ) -> None:
        """`admission_keys`: given a shard's key, the keys the admission script reads
        besides the shard's. `wait_replicas`: each batch (and each replayed chunk) is
        acknowledged only once that many replicas hold it, waiting up to `wait_ms`; the
        records of a batch they did not confirm fail with Unconfirmed."""
        self.keys = list(keys)
        self.shards = [Shard(i, key) for i, key in enumerate(self.keys)]
        script = xadd_script(admission)
        self._rotation = itertools.cycle(range(len(self.keys)))
        # One connection per shard batcher (each keeps one request in flight), and one
        # for the spool replayer, which runs beside them.
        wait = {"wait_replicas": wait_replicas, "wait_ms": wait_ms}
        self._connections = [ScriptConnection(redis_url, script, **wait) for _ in self.keys]
        self._replay_connection = ScriptConnection(redis_url, REPLAY, **wait)
        extra = admission_keys or (lambda _key: ())
        self._batchers: list[GroupCommit[Item, bool]] = [
            GroupCommit(
                self._flusher([key, stream_keys.metrics_key(key), *extra(key)], connection),
                max_batch=max_batch,
                budget_s=budget_s,
                name=f"xadd {key}",
            )
            for key, connection in zip(self.keys, self._connections, strict=True)
        ]

    def start(self) -> None:
        for batcher in self._batchers:
            batcher.start()

    async def stop(self) -> None:
        for batcher in self._batchers:
            await batcher.stop()
        for connection in (*self._connections, self._replay_connection):
            connection.close()

    def shard_for(self, pin: int) -> Shard:
        """The shard of every record pinned by `pin` (an offer, say)."""
        return self.shards[pin % len(self.shards)]

    def enqueue(
        self,
        record: bytes,
        *,
        shard: int | None = None,
        admission: Sequence[bytes] | None = None,
    ) -> asyncio.Future[bool]:
        """Queue a record, with its admission arguments if any ([n, then n arguments]);
        the future gives False when the admission script refused it but stored it as it
        said, fails with Refused when the script refused to store it, with CommitFailed
        when Redis did not take the batch within the budget, and with Unconfirmed when
        Redis took it but the replicas asked for did not confirm it in time."""
        index = next(self._rotation) if shard is None else shard
        return self._batchers[index].submit((record, admission))

    def enqueue_then(
        self,
        record: bytes,
        then: Callable[[bool | Exception], object],
        *,
        shard: int | None = None,
        admission: Sequence[bytes] | None = None,
    ) -> None:
        """`enqueue` without a future: `then` gets what the future would (its result, or
        the exception), called once the record's batch is answered (GroupCommit)."""
        index = next(self._rotation) if shard is None else shard
        self._batchers[index].submit_then((record, admission), then)

    async def send_now(self, chunk: str, records: list[bytes]) -> int:
        """XADD a chunk of spooled records, named `chunk` uniquely, at once: no budget, no
        admission, and never twice (the replayer's path). The count added (0: already in);
        Unreplicated (a RedisError: the file stays) when the replicas did not confirm."""
        key = self.keys[zlib.crc32(chunk.encode()) % len(self.keys)]
        # A node that stopped answering (not closed: paused, cut off) fails the replay,
        # which goes again later, rather than holding it.
        async with asyncio.timeout(REPLAY_TIMEOUT_S):
            added = await self._replay_connection.run(
                [
                    key.encode(),
                    stream_keys.metrics_key(key).encode(),
                    stream_keys.replay_marker_key(key, chunk).encode(),
                ],
                [b"%d" % REPLAY_MARKER_TTL_S, *records],
            )
        return int(added)

    @staticmethod
    def _flusher(
        keys: list[str], connection: ScriptConnection
    ) -> Callable[[list[Item]], Awaitable[list[bool | Exception]]]:
        script_keys = [key.encode() for key in keys]

        # A record's admission arguments as RESP, by the arguments (a link's are the same
        # all day, app.redirect.handler): encoded once, not per record.
        encoded: dict[tuple[bytes, ...], tuple[int, bytes]] = {}

        async def flush(items: list[Item]) -> list[bool | Exception]:
            parts: list[bytes] = []
            count = 0
            for record, admission in items:
                parts.append(b"$%d\r\n%b\r\n" % (len(record), record))
                arguments = NO_ARGUMENTS if admission is None else admission
                if type(arguments) is not tuple:
                    arguments = tuple(arguments)  # hashable
                known = encoded.get(arguments)
                if known is None:
                    if len(encoded) >= MAX_ENCODED:
                        encoded.clear()
                    known = encoded[arguments] = (1 + len(arguments), bulks(arguments))
                count += known[0]
                parts.append(known[1])
            try:
                answers = await connection.run_encoded(script_keys, count, b"".join(parts))
            except Unreplicated as exc:
                return [Unconfirmed(a == 1) if a >= 0 else Refused() for a in exc.reply]
            return [a == 1 if a >= 0 else Refused() for a in answers]

        return flush
