"""The Redis client: redis-py's asyncio API with the hiredis parser.

`REDIS_URL=redis+cluster://host:port` (or `rediss+cluster://`) names a Redis Cluster by
one of its nodes (more are found from it): every process then talks to the cluster
through redis-py's RedisCluster, and the producer's script connections route each shard
to the master of its slot (app.streams.script_connection). Every key the app writes in
one command or script shares one hash tag (app.streams.keys), so nothing crosses slots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis, RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def cluster_url(url: str) -> str | None:
    """The plain URL of a seed node when `url` names a Redis Cluster; None otherwise."""
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    return f"{plain}{sep}{rest}" if sep and plain else None


def is_cluster(url: str) -> bool:
    return cluster_url(url) is not None


def is_cluster_client(redis: object) -> bool:
    return isinstance(redis, RedisCluster)


def create_redis(url: str) -> Redis:
    seed = cluster_url(url)
    if seed is None:
        return Redis.from_url(
            url, decode_responses=False, socket_connect_timeout=5, health_check_interval=30
        )
    client = RedisCluster.from_url(
        seed, decode_responses=False, socket_connect_timeout=5, health_check_interval=30
    )
    # RedisCluster serves the same commands as Redis (one key, or keys of one slot) but
    # shares no base class with it; the app is typed against Redis's command API.
    return cast(Redis, client)


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int  # events in this window, this one included
    retry_after: int  # whole seconds (at least 1) until the window ends


async def count_in_window(
    redis: Redis, prefix: str, window_s: int, now: float | None = None
) -> WindowCount:
    """Count one event under `prefix` in the current fixed window of `window_s` seconds,
    shared by every process (the key is `<prefix>:<window number>`, kept two windows).
    Redis's errors (RedisError, OSError) are the caller's to answer."""
    moment = time.time() if now is None else now
    window = int(moment // window_s)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(f"{prefix}:{window}")
        pipe.expire(f"{prefix}:{window}", window_s * 2)
        count, _ = await pipe.execute()
    return WindowCount(int(count), max(1, int((window + 1) * window_s - moment)))
