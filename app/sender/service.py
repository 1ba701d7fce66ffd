"""The sender's API to the rest of the app: the outbox that attribution writes, the
deliveries log behind /api/v1/deliveries, the check of a postback URL when it is saved,
and `tracker sender` (the engine, with its health key)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

from app import db, sealing
from app.db import Pool
from app.errors import Conflict, Forbidden, NotFound
from app.keys import service as keys_service
from app.mail.mailer import Mailer
from app.ops import health
from app.redis import create_redis
from app.sender import deliveries, ssrf
from app.sender.deliveries import list_deliveries as list_deliveries
from app.sender.engine import Sender
from app.sender.outbox import Delivery as Delivery
from app.sender.outbox import delivery_for as delivery_for
from app.sender.outbox import enqueue_deliveries as enqueue_deliveries
from app.sender.outbox import enqueue_delivery as enqueue_delivery
from app.settings import Settings
from app.webhooks import sealed as webhook_secrets

logger = logging.getLogger(__name__)

ROLE = "sender"  # its health key: health:{sender}:<host>:<pid>

RefusedAddress = ssrf.RefusedAddress


async def check_postback_url(url: str, allowed_networks: Sequence[str]) -> None:
    """Raise RefusedAddress for a URL the sender would never send to (see app/sender/ssrf).

    `allowed_networks`: the private networks it may reach anyway (settings).
    """
    await ssrf.check_saved_url(url, ssrf.parse_networks(allowed_networks))


async def get_delivery(
    pool: Pool, delivery_id: int, *, key: keys_service.Principal
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """A delivery and its tries, for an admin or the delivery's affiliate. Another
    affiliate's delivery is reported missing, so IDs reveal nothing."""
    row = await deliveries.get(pool, delivery_id)
    if row is None or not key.allows(row["affiliate_id"]):
        raise NotFound(f"delivery {delivery_id} does not exist")
    return row, await deliveries.attempts(pool, delivery_id)


async def retry_delivery(
    pool: Pool, delivery_id: int, *, key: keys_service.Principal
) -> asyncpg.Record:
    """Make a pending or failed delivery due now; a delivered one is refused (Conflict),
    since resending it would notify the affiliate twice. An admin retries any; an
    affiliate the deliveries of its own webhook endpoints only, a manager their affiliates'."""
    if not key.is_owner:
        row = await deliveries.get(pool, delivery_id)
        if row is None or not key.allows(row["affiliate_id"]):
            raise NotFound(f"delivery {delivery_id} does not exist")
        if not key.is_admin and row["kind"] != "webhook":
            raise Forbidden("only an admin key retries a postback")
    row = await deliveries.make_due(pool, delivery_id)
    if row is None:
        if await deliveries.get(pool, delivery_id) is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        raise Conflict(f"delivery {delivery_id} was already delivered")
    return row


async def run(
    settings: Settings,
    *,
    burst: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    database_url, redis_url = settings.require_urls()
    stop = stop or asyncio.Event()
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        # A key that does not open the webhook secrets refuses to start (rather than fail,
        # and so disable, every endpoint).
        async with pool.acquire() as conn:
            await sealing.open_sealer(settings=settings, conn=conn, kinds=[webhook_secrets.SEALED])
    except BaseException:
        await pool.close()
        raise
    redis = create_redis(redis_url)
    sender = Sender(pool, settings)
    # E-mail goes out from the same process: outbound deliveries with leases, retries
    # and backoff are what a sender does (the worker's job is the streams).
    mailer = Mailer(pool, settings)
    try:
        async with health.heartbeat(
            redis, ROLE, info=lambda: f"sent={sender.sent} failed={sender.failed}"
        ):
            logger.info("sender started")
            await asyncio.gather(
                sender.run(stop=stop, burst=burst), mailer.run(stop=stop, burst=burst)
            )
    finally:
        await sender.aclose()
        await redis.aclose()
        await pool.close()
