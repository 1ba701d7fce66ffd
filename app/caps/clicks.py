"""Click caps, counted in Redis at redirect time.

Counting shares the group commit idea: one Lua call per batch of capped clicks INCRs
every counter a click is subject to and, if any is over its limit, takes that click's
increments back and answers "over", so only clicks that went to the offer count.
All counters carry the hash tag {caps}, so one script's keys sit in one Cluster slot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from app.streams.batching import BatchFailed, GroupCommit

# ARGV per click: n, then n triples (key, limit, ttl). Returns 1 (within caps) or 0.
COUNT_CLICKS = """
local out = {}
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  i = i + 1
  local ok = 1
  local taken = {}
  for _ = 1, n do
    local key, limit, ttl = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
    i = i + 3
    if ok == 1 then
      local v = redis.call('INCR', key)
      if v == 1 then redis.call('EXPIRE', key, ttl) end
      taken[#taken + 1] = key
      if v > limit then ok = 0 end
    end
  end
  if ok == 0 then
    for _, k in ipairs(taken) do redis.call('DECR', k) end
  end
  out[#out + 1] = ok
end
return out
"""
ROUTING_KEY = "cap:{caps}"
DAY_TTL_S = 2 * 86400
MONTH_TTL_S = 32 * 86400


@dataclass(frozen=True, slots=True)
class ClickCap:
    # Key prefix naming the scope: offer, and affiliate or "*" for the whole offer.
    prefix: str
    period: str  # day | month
    limit: int


def cap_prefix(offer_id: int, affiliate_id: int | None) -> str:
    return f"cap:{{caps}}:clicks:o{offer_id}:a{affiliate_id if affiliate_id else '*'}"


def counter_args(caps: tuple[ClickCap, ...], now: float) -> list[str | int]:
    """The script arguments for one click made at `now` (UTC periods)."""
    args: list[str | int] = [len(caps)]
    day = int(now // 86400)
    month = time.strftime("%Y%m", time.gmtime(now))
    for cap in caps:
        if cap.period == "day":
            args += [f"{cap.prefix}:d{day}", cap.limit, DAY_TTL_S]
        else:
            args += [f"{cap.prefix}:m{month}", cap.limit, MONTH_TTL_S]
    return args


class ClickCapCounter:
    def __init__(self, redis: Redis, *, budget_s: float, max_batch: int) -> None:
        self._script = redis.register_script(COUNT_CLICKS)
        self._batcher: GroupCommit[list[str | int], bool] = GroupCommit(
            self._count, max_batch=max_batch, budget_s=budget_s, name="click-caps"
        )

    def start(self) -> None:
        self._batcher.start()

    async def stop(self) -> None:
        await self._batcher.stop()

    async def within(self, caps: tuple[ClickCap, ...], now: float) -> bool:
        """Count a click against its caps; False when one is reached.

        If Redis cannot answer within the budget the click goes to the offer: a cap
        is a business limit, and failing open loses no click.
        """
        try:
            return await self._batcher.submit(counter_args(caps, now))
        except BatchFailed:
            return True

    async def _count(self, clicks: list[list[str | int]]) -> list[bool]:
        args = [a for click in clicks for a in click]
        answers = await self._script(keys=[ROUTING_KEY], args=args)
        return [bool(int(a)) for a in answers]
