"""The customers API's service: list, one customer with its totals and timeline, and
reassignment by hand (under the customer's lock, as the worker binds it)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg

from app.attribution import queries as attribution_queries
from app.catalog import affiliates
from app.clickid import format_click_id
from app.customers import attribution, queries
from app.customers.schemas import CustomerQuery
from app.db import Pool
from app.errors import Conflict, NotFound, found


def fields_of(row: asyncpg.Record) -> dict[str, Any]:
    data = dict(row)
    data["click_id"] = format_click_id(data["click_id"]) if data["click_id"] else None
    return data


async def external_ids(pool: Pool, customer_ids: set[int]) -> dict[int, str | None]:
    """The advertisers' own IDs of these customers (for admin views of conversions)."""
    if not customer_ids:
        return {}
    rows = await pool.fetch(queries.EXTERNAL_IDS, sorted(customer_ids))
    return {int(r["id"]): r["external_id"] for r in rows}


async def list_customers(
    pool: Pool,
    *,
    query: CustomerQuery,
    first_from: datetime | None,
    first_to: datetime | None,
    external_id: str | None,
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        *queries.LIST.bind(*query.arguments(), first_from, first_to, external_id)
    )
    return [fields_of(r) for r in rows]


async def get_customer(pool: Pool, *, customer_id: int, affiliate_id: int | None) -> dict[str, Any]:
    """A customer with its totals and timeline; `affiliate_id`: as that affiliate sees it
    (its own customers only, its own conversions only)."""
    row = await pool.fetchrow(queries.GET, customer_id)
    if row is None or (affiliate_id is not None and row["affiliate_id"] != affiliate_id):
        # Someone else's customer looks like no customer at all.
        raise NotFound(f"customer {customer_id} does not exist")
    data = fields_of(row)
    # Four reads on connections of their own at once (each was a statement of its own
    # before too): the busiest customer's page waits for the slowest, not for the sum.
    totals, conversions, changes, events = await asyncio.gather(
        pool.fetch(queries.TOTALS, customer_id, affiliate_id),
        pool.fetch(queries.CONVERSIONS, customer_id, affiliate_id),
        pool.fetch(queries.STATUS_CHANGES, customer_id, affiliate_id),
        pool.fetch(queries.EVENTS, customer_id),
    )
    data["conversions"] = sum(int(t["conversions"]) for t in totals)
    data["revenue"] = {t["currency"]: t["revenue"] for t in totals}
    data["payout"] = {t["currency"]: t["payout"] for t in totals}
    data["timeline"] = _timeline(row, affiliate_id, conversions, changes, events)
    return data


def _timeline(
    customer: asyncpg.Record,
    affiliate_id: int | None,
    conversions: list[asyncpg.Record],
    changes: list[asyncpg.Record],
    events: list[asyncpg.Record],
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    first = next((c for c in conversions if c["id"] == customer["first_conversion_id"]), None)
    if first is not None and first["clicked_at"] is not None:
        items.append(
            {"at": first["clicked_at"], "kind": "click", "affiliate_id": first["affiliate_id"]}
        )
    for c in conversions:
        items.append(
            {
                "at": c["received_at"],
                "kind": "conversion",
                "conversion_id": c["id"],
                "affiliate_id": c["affiliate_id"],
                "offer_id": c["offer_id"],
                "event": c["goal"],
                "status": c["status"],
                "recurring": c["recurring"],
                "via": c["attributed_via"] or ("pixel" if c["via"] == "pixel" else "click"),
                "payout": c["payout"],
                "currency": c["currency"],
            }
        )
        if c["id"] == customer["first_conversion_id"]:
            # The customer was bound by its first conversion, to that one's affiliate.
            bound = {"at": c["received_at"], "kind": "bound", "affiliate_id": c["affiliate_id"]}
            items.append({**bound, "conversion_id": c["id"]})
    for h in changes:
        items.append(
            {
                "at": h["changed_at"],
                "kind": "status_change",
                "conversion_id": h["conversion_id"],
                "old_status": h["old_status"],
                "status": h["new_status"],
                "changed_by": h["changed_by"] if affiliate_id is None else None,
            }
        )
    admin = affiliate_id is None
    for e in events:
        if not admin and e["affiliate_id"] != affiliate_id:
            continue
        items.append(
            {
                "at": e["at"],
                "kind": e["kind"],
                "affiliate_id": e["affiliate_id"],
                "conversion_id": e["conversion_id"],
                # Who had the customer before is another affiliate's business.
                "previous_affiliate_id": e["previous_affiliate_id"]
                if affiliate_id is None
                else None,
                "changed_by": e["changed_by"] if affiliate_id is None else None,
                "reason": e["reason"] if affiliate_id is None else None,
            }
        )
    items.sort(key=lambda i: i["at"])
    return items


async def reassign(
    pool: Pool, *, customer_id: int, affiliate_id: int, reason: str, changed_by: str
) -> dict[str, Any]:
    """Bind a customer to another affiliate by hand; its later conversions credit that one."""
    async with pool.acquire() as conn, conn.transaction():
        row = found(await conn.fetchrow(queries.GET, customer_id), "customer", customer_id)
        if row["external_id"] is not None:
            await conn.fetchval(
                attribution_queries.LOCK_KEYS,
                [attribution.lock_key(row["advertiser_id"], row["external_id"])],
            )
        current = await conn.fetchrow(queries.FOR_UPDATE, customer_id)
        assert current is not None
        status = await affiliates.affiliate_status(conn, affiliate_id=affiliate_id)
        if status is None:
            raise Conflict(f"affiliate {affiliate_id} does not exist", code="invalid_reference")
        if status == "archived":
            raise Conflict(f"affiliate {affiliate_id} is archived")
        if current["affiliate_id"] != affiliate_id:
            link = await conn.fetchval(queries.LINK_OF, affiliate_id, current["offer_id"])
            if link is None:
                raise Conflict(
                    f"affiliate {affiliate_id} has no link on offer {current['offer_id']}",
                    code="no_link",
                )
            await conn.execute(queries.REASSIGN, customer_id, affiliate_id, link)
            await conn.execute(
                queries.INSERT_EVENTS,
                [customer_id],
                ["reassigned"],
                [affiliate_id],
                [current["affiliate_id"]],
                [None],
                [changed_by],
                [reason],
                [await conn.fetchval(attribution_queries.NOW)],
            )
    return await get_customer(pool, customer_id=customer_id, affiliate_id=None)
