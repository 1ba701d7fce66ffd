"""What other features use of the catalog: the change notice that keeps caches fresh.

The resources themselves live in advertisers.py, offers.py, affiliates.py and links.py.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.redis import is_cluster_client
from app.streams import keys

logger = logging.getLogger(__name__)

CATALOG_VERSION_KEY = "catalog:version"
CATALOG_CHANNEL = "catalog:changed"
# STREAM_SHARDS' upper bound: every conversion shard there may be gets its copy.
MAX_SHARDS = 256


def version_copy_key(stream_key: str) -> str:
    """The copy of the version under a conversion shard's hash tag (Redis Cluster only:
    the stream producer's admission script reads it, app.postbacks.freshness)."""
    return f"{stream_key}:catalog-version"


async def notify_changed(redis: Redis) -> None:
    """Tell every web process to reload its redirect cache.

    The version key lets a process that missed the message notice on its next poll; a
    failure here is only logged, because the change is already committed.
    """
    try:
        version = await redis.incr(CATALOG_VERSION_KEY)
        if is_cluster_client(redis):
            async with redis.pipeline(transaction=False) as pipe:
                for stream_key in keys.shard_keys(keys.CONVERSIONS, MAX_SHARDS):
                    pipe.set(version_copy_key(stream_key), version)
                await pipe.execute()
        await redis.publish(CATALOG_CHANNEL, str(version))
    except RedisError:
        logger.warning("catalog change notice failed; caches refresh on their TTL")
