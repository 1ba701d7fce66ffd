"""Click caps: which counters a click counts against, per UTC day or month, and the
admission script that counts them.

ADMISSION runs inside the click stream producer's script (app.streams.producer), in the
same round trip as the click's XADD: it INCRs the click's cap counters and, when one is
over its limit, takes the increments back and stores the record marked as diverted by
the cap (app.clicks.record.CAPPED_MEMBER). Counter keys start with the shard's stream
key, so they share its hash tag; a capped offer always uses one shard
(`DurableQueue.shard_for`), and changing STREAM_SHARDS restarts the current periods'
counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from app.clicks.record import CAPPED_MEMBER

# The arguments of a click: (counter key, limit, ttl) per cap. A capped record is the
# record with CAPPED_MEMBER added before its closing brace.
ADMISSION = """
local function admit(rec, first, n)
  local taken = {}
  for j = first, first + n - 1, 3 do
    local key, limit = ARGV[j], tonumber(ARGV[j + 1])
    local v = redis.call('INCR', key)
    if v == 1 then redis.call('EXPIRE', key, ARGV[j + 2]) end
    taken[#taken + 1] = key
    if v > limit then
      for _, k in ipairs(taken) do redis.call('DECR', k) end
      return string.sub(rec, 1, -2) .. ',CAPPED_MEMBER}', 0
    end
  end
  return rec, 1
end
""".replace("CAPPED_MEMBER", CAPPED_MEMBER)
DAY_TTL_S = 2 * 86400
_CAPPED_TAIL = b"," + CAPPED_MEMBER.encode() + b"}"
MONTH_TTL_S = 32 * 86400


@dataclass(frozen=True, slots=True)
class ClickCap:
    # Names the scope: the offer, and an affiliate or "*" for the whole offer.
    scope: str
    period: str  # day | month
    limit: int


def capped_record(record: bytes) -> bytes:
    """The record as ADMISSION stores a click over its cap."""
    return record[:-1] + _CAPPED_TAIL


def cap_scope(offer_id: int, affiliate_id: int | None) -> str:
    return f"o{offer_id}:a{affiliate_id if affiliate_id else '*'}"


def counter_args(stream_key: str, caps: tuple[ClickCap, ...], now: float) -> tuple[bytes, ...]:
    """ADMISSION's arguments for one click made at `now`, on the shard of `stream_key`:
    their count first, as the producer takes them."""
    return _counter_args(stream_key, caps, int(now // 86400))


@lru_cache(maxsize=4096)
def _counter_args(stream_key: str, caps: tuple[ClickCap, ...], day: int) -> tuple[bytes, ...]:
    # The same few links click all day: build their arguments once per UTC day.
    month = time.strftime("%Y%m", time.gmtime(day * 86400))
    args = [str(3 * len(caps))]
    for cap in caps:
        if cap.period == "day":
            args += [f"{stream_key}:cap:{cap.scope}:d{day}", str(cap.limit), str(DAY_TTL_S)]
        else:
            args += [f"{stream_key}:cap:{cap.scope}:m{month}", str(cap.limit), str(MONTH_TTL_S)]
    return tuple(a.encode() for a in args)
