"""Start and stop the redirect path's resources with the web app."""

from __future__ import annotations

from redis.asyncio import Redis

from app.caps import clicks as click_caps
from app.db import Pool
from app.proxies import TrustedProxies
from app.redirect.cache import LinkCache
from app.redirect.handler import Redirector
from app.settings import Settings
from app.streams import keys
from app.streams.durable_queue import DurableQueue


async def open_redirector(*, settings: Settings, pool: Pool, redis: Redis) -> Redirector:
    """The redirect path with its link cache loaded and its queue running."""
    cache = await LinkCache.open(pool, redis, settings)
    queue = DurableQueue(
        redis,
        stream=keys.CLICKS,
        settings=settings,
        admission=click_caps.ADMISSION,
        stored_refused=click_caps.capped_record,
    )
    queue.start()
    return Redirector(
        cache=cache,
        queue=queue,
        cookie_name=settings.click_cookie,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
        anonymize_ip=settings.ip_anonymize,
    )


async def stop(redirector: Redirector) -> None:
    await redirector.queue.stop()
    await redirector.cache.stop()


async def replay_spool(redirector: Redirector) -> int:
    """Move spooled clicks into the stream; the count moved."""
    return await redirector.queue.replay()
