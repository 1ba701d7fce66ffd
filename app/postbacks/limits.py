"""The pixel rate limit: how many browser conversions one address may send a minute.

Anyone can fire /pixel.gif with any click ID, so the pixel path is bounded: each client
address (an IPv6 address by its /64, which one subscriber usually holds whole) gets
`PIXEL_RATE_PER_MINUTE` pixels per clock minute, counted in Redis so every web process
shares the count. Pixels over it are dropped before they are queued (the browser still
gets its GIF) and counted as `pixels_limited`. When Redis does not answer within its
budget the pixel goes through: a real conversion is worth more than the limit.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

WINDOW_S = 60
# Pixels dropped by the limit, fleet-wide (read by app.ops.pipeline; outside the balance,
# since they were never accepted).
COUNTERS_KEY = "metrics:pixels:web"
LIMITED = "pixels_limited"


def rate_key(ip: str, now: float) -> str:
    """The counter of an address for the minute of `now` (an IPv6 address by its /64; a
    network kept by IP_ANONYMIZE, `203.0.113.0/24`, by that network)."""
    try:
        if "/" in ip:
            subject = str(ipaddress.ip_network(ip, strict=False))
        else:
            address = ipaddress.ip_address(ip)
            subject = (
                str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
                if address.version == 6
                else str(address)
            )
    except ValueError:
        subject = "unknown"
    return f"pixels:rate:{subject}:{int(now // WINDOW_S)}"


class PixelLimiter:
    def __init__(self, redis: Redis, *, per_minute: int, budget_s: float) -> None:
        self._redis = redis
        self._per_minute = per_minute
        self._budget_s = budget_s

    async def allow(self, ip: str, *, now: float | None = None) -> bool:
        """Count one pixel from `ip`; False when the address is over its limit."""
        if self._per_minute <= 0:
            return True
        key = rate_key(ip, time.time() if now is None else now)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S * 2)
                count, _ = await asyncio.wait_for(pipe.execute(), self._budget_s)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.debug("pixel rate limit not checked: %s", exc)
            return True
        if int(count) <= self._per_minute:
            return True
        try:
            await asyncio.wait_for(self._redis.hincrby(COUNTERS_KEY, LIMITED, 1), self._budget_s)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.debug("pixel drop not counted: %s", exc)
        return False
