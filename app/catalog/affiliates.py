"""Affiliates: who sends traffic, and where their own postbacks go."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg
import orjson

from app.catalog import patch
from app.catalog.queries import affiliates as queries
from app.catalog.schemas import AffiliateIn, AffiliateOut, AffiliatePatch
from app.db import Connection, Executor
from app.errors import BadRequest, NotFound
from app.money import format_money
from app.pagination import Page, after_id, next_cursor
from app.sender import service as sender_service


def thresholds_json(thresholds: dict[str, Decimal]) -> str:
    """JSON text (a connection without the pool's JSON codec takes it too), the amounts as
    decimal strings (JSON numbers would go through float)."""
    return orjson.dumps(
        {currency: format_money(amount) for currency, amount in sorted(thresholds.items())}
    ).decode()


def _affiliate_out(row: asyncpg.Record | None, affiliate_id: int) -> AffiliateOut:
    if row is None:
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    return AffiliateOut(**dict(row))


async def _check_postback_url(url: str | None, allowed_networks: Sequence[str]) -> None:
    if url is None:
        return
    try:
        await sender_service.check_postback_url(url, allowed_networks)
    except sender_service.RefusedAddress as exc:
        raise BadRequest(f"postback_url: {exc}", code="invalid_request") from None


async def create_affiliate(
    conn: Executor, *, body: AffiliateIn, allowed_networks: Sequence[str] = ()
) -> AffiliateOut:
    """`allowed_networks`: private networks a postback URL may point at (settings)."""
    await _check_postback_url(body.postback_url, allowed_networks)
    row = await conn.fetchrow(
        queries.INSERT,
        body.name,
        body.email,
        body.postback_url,
        body.postback_method,
        body.postback_on,
        body.status,
        body.signing_secret,
        thresholds_json(body.payout_threshold),
    )
    assert row is not None
    return AffiliateOut(**dict(row))


async def list_affiliates(
    conn: Executor,
    *,
    cursor: str | None,
    limit: int,
    only_affiliate_id: int | None,
    status: str | None,
) -> Page[AffiliateOut]:
    """`only_affiliate_id`: the one affiliate an affiliate key may see (None: all)."""
    rows = await conn.fetch(queries.LIST, after_id(cursor), limit, only_affiliate_id, status)
    return Page[AffiliateOut](
        items=[AffiliateOut(**dict(r)) for r in rows],
        next_cursor=next_cursor(rows, limit),
    )


async def get_affiliate(conn: Executor, *, affiliate_id: int) -> AffiliateOut:
    return _affiliate_out(await conn.fetchrow(queries.GET, affiliate_id), affiliate_id)


async def affiliate_status(conn: Executor, *, affiliate_id: int) -> str | None:
    """The status, or None when there is no such affiliate."""
    status: str | None = await conn.fetchval(queries.STATUS, affiliate_id)
    return status


async def existing_affiliate_ids(conn: Executor, affiliate_ids: list[int]) -> set[int]:
    return {r["id"] for r in await conn.fetch(queries.EXISTING_IDS, affiliate_ids)}


async def update_affiliate(
    conn: Executor, *, affiliate_id: int, body: AffiliatePatch, allowed_networks: Sequence[str] = ()
) -> AffiliateOut:
    changes = patch.changes(body, nullable=body.nullable)
    if changes.get("payout_threshold") is not None:
        changes["payout_threshold"] = thresholds_json(changes["payout_threshold"])
    await _check_postback_url(changes.get("postback_url"), allowed_networks)
    if not changes:
        return await get_affiliate(conn, affiliate_id=affiliate_id)
    sql = patch.update_sql(
        "affiliates", list(changes), queries.COLUMNS, {"payout_threshold": "text::jsonb"}
    )
    return _affiliate_out(await conn.fetchrow(sql, affiliate_id, *changes.values()), affiliate_id)


async def delete_affiliate(conn: Connection, *, affiliate_id: int) -> None:
    async with conn.transaction():
        await get_affiliate(conn, affiliate_id=affiliate_id)
        if await conn.fetchval(queries.IS_REFERENCED, affiliate_id):
            await conn.execute(queries.ARCHIVE, affiliate_id)
        else:
            await conn.execute(queries.DELETE, affiliate_id)
