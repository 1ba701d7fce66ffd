"""What other features use of the catalog: the change notice that keeps caches fresh.

The resources themselves live in advertisers.py, offers.py, affiliates.py and links.py.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CATALOG_VERSION_KEY = "catalog:version"
CATALOG_CHANNEL = "catalog:changed"


async def notify_changed(redis: Redis) -> None:
    """Tell every web process to reload its redirect cache.

    The version key lets a process that missed the message notice on its next poll; a
    failure here is only logged, because the change is already committed.
    """
    try:
        version = await redis.incr(CATALOG_VERSION_KEY)
        await redis.publish(CATALOG_CHANNEL, str(version))
    except RedisError:
        logger.warning("catalog change notice failed; caches refresh on their TTL")
