"""The Redis client: redis-py's asyncio API with the hiredis parser."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url, decode_responses=False, socket_connect_timeout=5, health_check_interval=30
    )
