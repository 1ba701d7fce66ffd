"""Where every click is: served = stored + in flight + dead-lettered.

Served, enqueued, spooled and replayed come from the web processes' shared counters;
stored and dead-lettered from the workers' counters, which are incremented in the same
MULTI as the stream ack; in flight is what the streams hold unacked plus what the local
spool holds. A non-zero balance means a click is unaccounted for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

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


@dataclass
class PipelineState:
    served: int
    enqueued: int
    spooled: int
    replayed: int
    stored: int
    dead_lettered: int
    in_streams: int
    in_spool: int
    shards: list[ShardState]

    @property
    def balance(self) -> int:
        """Zero when every served click is stored, in flight or dead-lettered."""
        return self.served - self.stored - self.in_streams - self.in_spool - self.dead_lettered

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "balance": self.balance}


def _int(hash_: dict[Any, Any], name: str) -> int:
    return int(hash_.get(name.encode(), b"0"))


def spooled_records(directory: Path, stream: str) -> int:
    """Records waiting in this host's spool files."""
    if not directory.exists():
        return 0
    return sum(sum(1 for _ in read_records(p)) for p in directory.glob(f"{stream}-*.spool*"))


async def shard_state(redis: Redis, key: str) -> ShardState:
    length = int(await redis.xlen(key))
    # Without the worker's group yet, everything in the stream is still to be read.
    lag, pending = length, 0
    try:
        for group in await redis.xinfo_groups(key):
            if group["name"] in (keys.GROUP, keys.GROUP.encode()):
                pending = int(group["pending"])
                # Redis reports no lag after some trims; then count what is not pending.
                reported = group.get("lag")
                lag = int(reported) if reported is not None else max(0, length - pending)
    except ResponseError:  # no stream yet
        pass
    return ShardState(
        stream=key,
        length=length,
        lag=lag,
        pending=pending,
        dead_letters=int(await redis.xlen(keys.dead_letter_key(key))),
    )


async def pipeline_state(redis: Redis, settings: Settings) -> PipelineState:
    web = await redis.hgetall(keys.web_metrics_key(keys.CLICKS))
    shards = [
        await shard_state(redis, key)
        for key in keys.shard_keys(keys.CLICKS, settings.stream_shards)
    ]
    stored = dead = 0
    for shard in shards:
        worker = await redis.hgetall(keys.metrics_key(shard.stream))
        stored += _int(worker, "stored")
        dead += _int(worker, "dead_lettered")
    return PipelineState(
        served=_int(web, "served"),
        enqueued=_int(web, "enqueued"),
        spooled=_int(web, "spooled"),
        replayed=_int(web, "replayed"),
        stored=stored,
        dead_lettered=dead,
        in_streams=sum(s.lag + s.pending for s in shards),
        in_spool=spooled_records(settings.tracker_data_dir / "spool", keys.CLICKS),
        shards=shards,
    )


def prometheus_text(state: PipelineState) -> str:
    """The pipeline's figures in the Prometheus text format."""
    lines: list[str] = []

    def counter(name: str, value: int, doc: str) -> None:
        lines.extend([f"# HELP {name} {doc}", f"# TYPE {name} counter", f"{name} {value}"])

    counter("tracker_redirects_served_total", state.served, "Tracking-link redirects served.")
    counter("tracker_clicks_enqueued_total", state.enqueued, "Clicks acknowledged by Redis.")
    counter("tracker_clicks_spooled_total", state.spooled, "Clicks written to the local spool.")
    counter("tracker_clicks_replayed_total", state.replayed, "Spooled clicks replayed.")
    counter("tracker_clicks_stored_total", state.stored, "Clicks committed to PostgreSQL.")
    counter("tracker_clicks_dead_lettered_total", state.dead_lettered, "Entries dead-lettered.")
    for name, field, doc in (
        ("tracker_stream_lag", "lag", "Entries not yet read by the worker group."),
        ("tracker_stream_pending", "pending", "Entries read but not yet acked."),
        ("tracker_stream_dead_letters", "dead_letters", "Entries in the dead-letter stream."),
    ):
        lines.extend([f"# HELP {name} {doc}", f"# TYPE {name} gauge"])
        lines.extend(f'{name}{{stream="{s.stream}"}} {getattr(s, field)}' for s in state.shards)
    lines.extend(
        [
            "# HELP tracker_pipeline_balance served - stored - in flight - dead-lettered.",
            "# TYPE tracker_pipeline_balance gauge",
            f"tracker_pipeline_balance {state.balance}",
        ]
    )
    return "\n".join(lines) + "\n"
