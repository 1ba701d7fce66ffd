"""The Redis client: redis-py's asyncio API with the hiredis parser.

`REDIS_URL=redis+cluster://host:port` (or `rediss+cluster://`) names a Redis Cluster by
one of its nodes (more are found from it): every process then talks to the cluster
through redis-py's RedisCluster, and the producer's script connections route each shard
to the master of its slot (app.streams.script_connection). Every key the app writes in
one command or script shares one hash tag (app.streams.keys), so nothing crosses slots.
"""

from __future__ import annotations

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
