"""Counters of the link cache: codes nobody knows (fleet-wide) and reads of PostgreSQL."""

from __future__ import annotations

from prometheus_client import Counter
from redis.asyncio import Redis

# Every web process adds its unknown-code hits here (app.ops.counters.SharedCounters).
COUNTERS_KEY = "metrics:links:web"
UNKNOWN_CODE = "unknown_code"

cache_loads = Counter(
    "tracker_link_cache_loads_total",
    "Reads of PostgreSQL by this process's link cache: full reloads and loads of changes",
    ["kind"],
)


async def prometheus_text(redis: Redis) -> str:
    """The fleet's unknown-code hits in the Prometheus text format."""
    raw = await redis.hget(COUNTERS_KEY, UNKNOWN_CODE)
    name = "tracker_redirect_unknown_code_total"
    return (
        f"# HELP {name} Clicks on a code no link has (answered 404, not recorded).\n"
        f"# TYPE {name} counter\n"
        f"{name} {int(raw or 0)}\n"
    )
