"""The conversions API's service: read conversions, change a status by hand.

The stream's side (records -> conversions) is app/attribution/consumer.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.attribution import queries, writer
from app.db import Pool
from app.errors import Conflict, found
from app.pagination import PageParams


async def change_status(
    pool: Pool, *, conversion_id: int, status: str, changed_by: str
) -> asyncpg.Record:
    """Set a conversion's status by hand, with the effects of a status-changing postback."""
    async with pool.acquire() as conn, conn.transaction():
        row = found(
            await conn.fetchrow(queries.GET_CONVERSION, conversion_id), "conversion", conversion_id
        )
        await conn.fetchval(
            queries.LOCK_KEYS, [writer.lock_key("txid", row["advertiser_id"], row["txid"])]
        )
        locked = await conn.fetchrow(queries.GET_CONVERSION_FOR_UPDATE, conversion_id)
        assert locked is not None
        current = dict(locked)
        if current["status"] == "unattributed":
            raise Conflict("an unattributed conversion has no click to credit", code="unattributed")
        if current["status"] == status:
            return locked
        old = current["status"]
        # A hand decision replaces the tracker's own reason (window, cap, ...).
        current["status"], current["reason"] = status, None
        now: datetime = await conn.fetchval(queries.NOW)
        await conn.execute(queries.UPDATE_STATUSES, [conversion_id], [status], [None], [now])
        affiliates = await writer.affiliates_of(conn, {int(current["affiliate_id"])})
        await writer.apply_effects(conn, [(current, old, status, changed_by)], affiliates)
        updated = await conn.fetchrow(queries.GET_CONVERSION, conversion_id)
        assert updated is not None
        return updated


async def get_conversion(pool: Pool, *, conversion_id: int) -> asyncpg.Record:
    row = found(
        await pool.fetchrow(queries.GET_CONVERSION, conversion_id), "conversion", conversion_id
    )
    return row


async def list_conversions(
    pool: Pool,
    *,
    page: PageParams,
    start: datetime | None,
    end: datetime | None,
    affiliate_id: int | None,
    offer_id: int | None,
    status: str | None,
    event: str | None,
) -> list[asyncpg.Record]:
    return await pool.fetch(
        queries.LIST_CONVERSIONS,
        page.after,
        page.limit,
        start,
        end,
        affiliate_id,
        offer_id,
        status,
        event,
    )


async def click_of_txid(pool: Pool, *, advertiser_id: int, txid: str) -> uuid.UUID | None:
    """The click of the advertiser's conversion for `txid`, or None when it has none."""
    click_id = await pool.fetchval(queries.CLICK_OF_TXID, advertiser_id, txid)
    # asyncpg's own UUID type; the stream record takes the standard one.
    return None if click_id is None else uuid.UUID(str(click_id))
