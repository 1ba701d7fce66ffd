"""Coupons: create, list, archive; and the worker's batched lookup of codes.

A coupon credits its affiliate for a click-less postback carrying its code. Codes are
unique per advertiser whatever their case; a coupon that was used is archived on DELETE,
never deleted, so the conversions it credited keep naming it.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.catalog import affiliates
from app.coupons import queries
from app.coupons.schemas import CouponIn, CouponOut, CouponQuery
from app.db import Connection, Executor
from app.errors import Conflict, NotFound
from app.pagination import Page


def _out(row: asyncpg.Record | None, coupon_id: int) -> CouponOut:
    if row is None:
        raise NotFound(f"coupon {coupon_id} does not exist")
    return CouponOut.model_validate(dict(row))


async def create_coupon(conn: Executor, *, body: CouponIn) -> CouponOut:
    status = await affiliates.affiliate_status(conn, affiliate_id=body.affiliate_id)
    if status is None:
        raise Conflict(f"affiliate {body.affiliate_id} does not exist", code="invalid_reference")
    if status == "archived":
        raise Conflict(f"affiliate {body.affiliate_id} is archived")
    advertiser_id = body.advertiser_id
    if body.offer_id is not None:
        offer = await conn.fetchrow(queries.OFFER, body.offer_id)
        if offer is None:
            raise Conflict(f"offer {body.offer_id} does not exist", code="invalid_reference")
        if advertiser_id is not None and advertiser_id != offer["advertiser_id"]:
            raise Conflict(
                f"offer {body.offer_id} is not advertiser {advertiser_id}'s",
                code="invalid_reference",
            )
        advertiser_id = int(offer["advertiser_id"])
        # Its conversions are counted under the affiliate's link, as a click's would be.
        if not await conn.fetchval(queries.HAS_LINK, body.affiliate_id, body.offer_id):
            raise Conflict(
                f"affiliate {body.affiliate_id} has no active link on offer {body.offer_id}",
                code="no_link",
            )
    elif await conn.fetchval("SELECT 1 FROM advertisers WHERE id = $1", advertiser_id) is None:
        raise Conflict(f"advertiser {advertiser_id} does not exist", code="invalid_reference")
    row = await conn.fetchrow(
        queries.INSERT, advertiser_id, body.offer_id, body.affiliate_id, body.code, body.status
    )
    if row is None:
        raise Conflict(f"coupon code {body.code!r} is taken", code="duplicate_code")
    return _out(row, 0)


async def list_coupons(conn: Executor, *, query: CouponQuery) -> Page[CouponOut]:
    rows = await conn.fetch(*queries.LIST.bind(*query.arguments()))
    return query.of([_out(r, r["id"]) for r in rows], rows)


async def get_coupon(conn: Executor, *, coupon_id: int) -> CouponOut:
    return _out(await conn.fetchrow(queries.GET, coupon_id), coupon_id)


async def set_status(conn: Executor, *, coupon_id: int, status: str) -> CouponOut:
    return _out(await conn.fetchrow(queries.SET_STATUS, coupon_id, status), coupon_id)


async def delete_coupon(conn: Connection, *, coupon_id: int) -> None:
    async with conn.transaction():
        if await conn.fetchrow(queries.GET, coupon_id) is None:
            raise NotFound(f"coupon {coupon_id} does not exist")
        if await conn.fetchval(queries.USED, coupon_id):
            await conn.execute(queries.SET_STATUS, coupon_id, "archived")
        else:
            await conn.execute(queries.DELETE, coupon_id)


@dataclass(frozen=True, slots=True)
class Coupon:
    id: int
    advertiser_id: int
    offer_id: int | None
    affiliate_id: int
    active: bool


async def find_codes(conn: Connection, codes: set[str]) -> dict[str, list[Coupon]]:
    """Coupons by lower-case code, of every advertiser (one query for a batch)."""
    if not codes:
        return {}
    found: dict[str, list[Coupon]] = {}
    for r in await conn.fetch(queries.FIND_CODES, sorted(codes)):
        found.setdefault(str(r["code"]).lower(), []).append(
            Coupon(
                id=int(r["id"]),
                advertiser_id=int(r["advertiser_id"]),
                offer_id=r["offer_id"],
                affiliate_id=int(r["affiliate_id"]),
                active=r["status"] == "active",
            )
        )
    return found
