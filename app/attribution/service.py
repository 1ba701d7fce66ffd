"""The conversions API's service: read conversions, change a status by hand.

The stream's side (records -> conversions) is app/attribution/consumer.py.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from app.attribution import queries, rules, writer
from app.db import Executor, Pool, retrying
from app.errors import Conflict, found
from app.ledger import record as ledger
from app.pagination import PageParams


async def change_status(
    pool: Pool, *, conversion_id: int, status: str, changed_by: str
) -> asyncpg.Record:
    """Set a conversion's status by hand, with the effects of a status-changing postback."""
    return await retrying(
        lambda: _change_status(
            pool, conversion_id=conversion_id, status=status, changed_by=changed_by
        )
    )


async def _change_status(
    pool: Pool, *, conversion_id: int, status: str, changed_by: str
) -> asyncpg.Record:
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
        await ledger.lock_currencies(conn, [current])
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


async def conversion_history(pool: Pool, *, conversion_id: int) -> list[asyncpg.Record]:
    """Who changed the conversion's status and when, oldest first (404 if no such one)."""
    async with pool.acquire() as conn:
        found(
            await conn.fetchrow(queries.GET_CONVERSION, conversion_id), "conversion", conversion_id
        )
        return list(await conn.fetch(queries.CONVERSION_HISTORY, conversion_id))


async def list_conversions(
    pool: Pool,
    *,
    page: PageParams,
    start: datetime | None,
    end: datetime | None,
    affiliate_ids: list[int] | None,
    offer_id: int | None,
    status: str | None,
    event: str | None,
) -> list[asyncpg.Record]:
    """`affiliate_ids`: only these affiliates' conversions (None: every one)."""
    return await pool.fetch(
        *queries.LIST_CONVERSIONS.bind(
            page.after,
            page.limit,
            start,
            end,
            affiliate_ids,
            offer_id,
            status,
            event,
        )
    )


async def click_of_txid(pool: Pool, *, advertiser_id: int, txid: str) -> uuid.UUID | None:
    """The click of the advertiser's conversion for `txid`, or None when it has none."""
    click_id = await pool.fetchval(queries.CLICK_OF_TXID, advertiser_id, txid)
    # asyncpg's own UUID type; the stream record takes the standard one.
    return None if click_id is None else uuid.UUID(str(click_id))


async def affiliate_payouts(
    conn: Executor, *, affiliate_id: int, offer_ids: list[int]
) -> dict[int, rules.PayoutRule]:
    """What the affiliate earns on each offer's main goal, by the one precedence rule
    (rules.payout_rule: its override, its group's rules, the offer's own rule)."""
    if not offer_ids:
        return {}
    offers = rules.offers_from(
        await conn.fetch(queries.OFFERS, offer_ids), await conn.fetch(queries.GOALS, offer_ids)
    )
    overrides = {
        int(r["offer_id"]): (str(r["payout_type"]), r["payout_value"])
        for r in await conn.fetch(queries.OVERRIDES, offer_ids, [affiliate_id])
    }
    group = rules.groups_from(await conn.fetch(queries.GROUP_TERMS, [affiliate_id], offer_ids)).get(
        affiliate_id
    )
    return {
        offer.id: rules.payout_rule(
            offer, offer.goals[offer.main_goal], offer.main_goal, overrides.get(offer.id), group
        )
        for offer in offers.values()
    }
