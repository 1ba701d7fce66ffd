"""Where every click (and conversion) is: served = stored + in flight + dead-lettered.

Every count is kept where the record is, in the same atomic step that moves it, so that
no crash can separate a record from its count:
- `enqueued`: the producer's script counts each record it XADDs, in that script (a web
  process killed at once loses no count);
- `spooled`: records fsync'd to the spool are counted from the spool files themselves:
  those still waiting (`in_spool`, this host's files), plus those the replay script
  moved into a stream (`replayed`, counted by that script, which takes a chunk once);
- `stored`, `dead_lettered`: the worker's settle script counts each entry its XACK takes
  off the pending list (app.streams.outcome): once, however often it was delivered, and
  also when its row was already there (a redelivery after a crash between commit and
  ack, a repeated postback, which changes nothing but was served);
- in flight: entries unread or unacked in the streams, conversions in the retry sets,
  and this host's spool.
served = enqueued + spooled, so the balance is 0 when nothing is lost. A record Redis
took after its budget ran out is spooled as well: it is then served twice and stored
twice (one row), and the balance still holds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.postbacks import limits as pixel_limits
from app.settings import Settings
from app.streams import keys
from app.streams.spool import read_records


@dataclass
class ShardState:
    stream: str
    length: int
    lag: int
    pending: int
    dead_letters: int
    # Entries set aside to be tried again later (conversions whose click is not stored yet).
    retrying: int


# Counters of the shards' hashes that say where an entry ended (settled by its ack).
SETTLED = ("stored", "dead_lettered", "discarded")


@dataclass
class PipelineState:
    stream: str
    served: int
    enqueued: int
    spooled: int
    replayed: int
    stored: int
    dead_lettered: int
    in_streams: int
    in_spool: int
    shards: list[ShardState]
    # Conversions only: pixels acked without a row (refused by their offer, or whose click
    # never came; app/attribution/pixels.py), part of the balance; and pixels dropped at
    # intake by the rate limit, which were never served (not part of it).
    discarded: int = 0
    pixels_limited: int = 0

    @property
    def balance(self) -> int:
        """Zero when every served record is stored, in flight, dead-lettered or discarded."""
        return (
            self.served
            - self.stored
            - self.in_streams
            - self.in_spool
            - self.dead_lettered
            - self.discarded
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balance": self.balance}


def _int(hash_: dict[Any, Any], name: str) -> int:
    return int(hash_.get(name.encode(), b"0"))


def spooled_records(directory: Path, stream: str) -> int:
    """Records waiting in this host's spool files."""
    if not directory.exists():
        return 0
    return sum(sum(1 for _ in read_records(p)) for p in directory.glob(f"{stream}-*.spool*"))


async def _undelivered(redis: Redis, key: str, last: bytes | str) -> int:
    """Entries after `last`, counted a chunk at a time (rare: see shard_state)."""
    start, count = "(" + (last.decode() if isinstance(last, bytes) else last), 0
    while True:
        batch: Any = await redis.xrange(key, min=start, max="+", count=1000)
        count += len(batch)
        if len(batch) < 1000:
            return count
        last_id = batch[-1][0]
        start = "(" + (last_id.decode() if isinstance(last_id, bytes) else str(last_id))


async def _lag(redis: Redis, key: str, reported: Any, last: bytes | str) -> int:
    """The group's lag as Redis reports it, checked by reading that many entries after
    the last delivered one (and one more). Redis reports none after some deletions (an
    erasure's, app/privacy, or a trim's), and Redis 7.0 a wrong one after an erasure's
    rewrite of entries (1 where every entry was read); then count them."""
    if reported is not None:
        lag = int(reported)
        start = "(" + (last.decode() if isinstance(last, bytes) else last)
        after: Any = await redis.xrange(key, min=start, max="+", count=lag + 1)
        if len(after) == lag:
            return lag
    return await _undelivered(redis, key, last)


async def shard_state(redis: Redis, key: str) -> ShardState:
    length = int(await redis.xlen(key))
    # Without the worker's group yet, everything in the stream is still to be read.
    lag, pending = length, 0
    try:
        for group in await redis.xinfo_groups(key):
            if group["name"] in (keys.GROUP, keys.GROUP.encode()):
                pending = int(group["pending"])
                lag = await _lag(redis, key, group.get("lag"), group["last-delivered-id"])
    except ResponseError:  # no stream yet
        pass
    return ShardState(
        stream=key,
        length=length,
        lag=lag,
        pending=pending,
        dead_letters=int(await redis.xlen(keys.dead_letter_key(key))),
        retrying=int(await redis.zcard(keys.retry_key(key))),
    )


async def pipeline_state(
    redis: Redis, settings: Settings, stream: str = keys.CLICKS
) -> PipelineState:
    shards = [
        await shard_state(redis, key) for key in keys.shard_keys(stream, settings.stream_shards)
    ]
    totals = dict.fromkeys(("enqueued", "replayed", *SETTLED), 0)
    for shard in shards:
        counters = await redis.hgetall(keys.metrics_key(shard.stream))
        for name in totals:
            totals[name] += _int(counters, name)
    in_spool = spooled_records(settings.tracker_data_dir / "spool", stream)
    spooled = totals["replayed"] + in_spool
    limited = 0
    if stream == keys.CONVERSIONS:
        limited = int(await redis.hget(pixel_limits.COUNTERS_KEY, pixel_limits.LIMITED) or 0)
    return PipelineState(
        stream=stream,
        served=totals["enqueued"] + spooled,
        enqueued=totals["enqueued"],
        spooled=spooled,
        replayed=totals["replayed"],
        stored=totals["stored"],
        dead_lettered=totals["dead_lettered"],
        in_streams=sum(s.lag + s.pending + s.retrying for s in shards),
        in_spool=in_spool,
        shards=shards,
        discarded=totals["discarded"],
        pixels_limited=limited,
    )


# Metric names per stream: (acknowledged, record noun).
_NAMES = {
    keys.CLICKS: ("redirects_served", "clicks"),
    keys.CONVERSIONS: ("postbacks_accepted", "conversions"),
}


def prometheus_text(states: list[PipelineState]) -> str:
    """The pipelines' figures in the Prometheus text format."""
    lines: list[str] = []

    def metric(kind: str, name: str, doc: str, samples: list[tuple[str, int]]) -> None:
        lines.extend([f"# HELP {name} {doc}", f"# TYPE {name} {kind}"])
        lines.extend(f"{name}{labels} {value}" for labels, value in samples)

    for state in states:
        served, noun = _NAMES.get(state.stream, (f"{state.stream}_accepted", state.stream))
        metric(
            "counter",
            f"tracker_{served}_total",
            "Acknowledged to the client.",
            [("", state.served)],
        )
        for field, doc in (
            ("enqueued", "acknowledged by Redis"),
            ("spooled", "written to the local spool (replayed, or in this host's spool)"),
            ("replayed", "replayed from the spool"),
            ("stored", "committed to PostgreSQL"),
            ("dead_lettered", "dead-lettered"),
            ("discarded", "discarded (pixels refused by their offer or of no stored click)"),
            ("pixels_limited", "dropped at intake by the pixel rate limit"),
        ):
            metric(
                "counter",
                f"tracker_{noun}_{field}_total",
                f"Records {doc}.",
                [("", getattr(state, field))],
            )
        metric(
            "gauge",
            f"tracker_{noun}_pipeline_balance",
            "served - stored - in flight - dead-lettered - discarded (0: nothing lost).",
            [("", state.balance)],
        )
    for name, field, doc in (
        ("tracker_stream_lag", "lag", "Entries not yet read by the worker group."),
        ("tracker_stream_pending", "pending", "Entries read but not yet acked."),
        ("tracker_stream_dead_letters", "dead_letters", "Entries in the dead-letter stream."),
    ):
        metric(
            "gauge",
            name,
            doc,
            [
                (f'{{stream="{shard.stream}"}}', getattr(shard, field))
                for state in states
                for shard in state.shards
            ],
        )
    return "\n".join(lines) + "\n"
