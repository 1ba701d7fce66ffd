"""A job that one worker of many runs once a period (the daily digest, group evaluation)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def run_once(
    redis: Redis, key: str, *, keep_s: int, what: str, job: Callable[[], Awaitable[T]]
) -> T | None:
    """Run `job` in the one worker that claims `key` first; None in the others, and when
    Redis is unreachable. A failed run drops the key again, so that a later try runs it;
    a finished one keeps it `keep_s` seconds."""
    try:
        if not await redis.set(key, "running", nx=True, ex=keep_s):
            return None
    except (RedisError, OSError) as exc:
        logger.warning("%s skipped, Redis unreachable: %s", what, exc)
        return None
    try:
        result = await job()
    except BaseException:
        await redis.delete(key)
        raise
    await redis.set(key, "done", ex=keep_s)
    return result
