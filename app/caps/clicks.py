"""Click caps: which counters a click counts against, per UTC day or month.

The counting itself happens in the stream producer's Lua script (app/streams/producer.py),
in the same round trip as the click's XADD. Counter keys start with the shard's stream
key, so they share its hash tag; a capped offer always uses one shard
(`StreamProducer.shard_for`), and changing STREAM_SHARDS restarts the current periods'
counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

DAY_TTL_S = 2 * 86400
MONTH_TTL_S = 32 * 86400


@dataclass(frozen=True, slots=True)
class ClickCap:
    # Names the scope: the offer, and an affiliate or "*" for the whole offer.
    scope: str
    period: str  # day | month
    limit: int


def cap_scope(offer_id: int, affiliate_id: int | None) -> str:
    return f"o{offer_id}:a{affiliate_id if affiliate_id else '*'}"


def counter_args(stream_key: str, caps: tuple[ClickCap, ...], now: float) -> tuple[bytes, ...]:
    """The producer script's cap arguments for one click made at `now`."""
    return _counter_args(stream_key, caps, int(now // 86400))


@lru_cache(maxsize=4096)
def _counter_args(stream_key: str, caps: tuple[ClickCap, ...], day: int) -> tuple[bytes, ...]:
    # The same few links click all day: build their arguments once per UTC day.
    month = time.strftime("%Y%m", time.gmtime(day * 86400))
    args = [str(len(caps))]
    for cap in caps:
        if cap.period == "day":
            args += [f"{stream_key}:cap:{cap.scope}:d{day}", str(cap.limit), str(DAY_TTL_S)]
        else:
            args += [f"{stream_key}:cap:{cap.scope}:m{month}", str(cap.limit), str(MONTH_TTL_S)]
    return tuple(a.encode() for a in args)
