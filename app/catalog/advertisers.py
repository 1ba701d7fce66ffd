"""Advertisers: who pays for conversions, and the token their postbacks carry."""

from __future__ import annotations

import secrets

import asyncpg

from app.catalog import patch
from app.catalog.queries import advertisers as queries
from app.catalog.schemas import AdvertiserIn, AdvertiserOut, AdvertiserPatch
from app.db import Connection, Executor
from app.errors import found
from app.pagination import Page, PageParams


def new_postback_token() -> str:
    return secrets.token_urlsafe(24)


def _advertiser_out(row: asyncpg.Record, public_url: str) -> AdvertiserOut:
    token = row["postback_token"]
    return AdvertiserOut(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        postback_token=token,
        postback_url=(
            f"{public_url}/postback?token={token}&click_id={{click_id}}&txid={{txid}}"
            "&amount={amount}&status={status}"
        ),
        ip_allowlist=[str(n) for n in row["ip_allowlist"]],
        signing_secret_set=row["signing_secret_set"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create_advertiser(
    conn: Executor, *, body: AdvertiserIn, public_url: str
) -> AdvertiserOut:
    row = await conn.fetchrow(
        queries.INSERT, body.name, body.ip_allowlist, new_postback_token(), body.signing_secret
    )
    assert row is not None
    return _advertiser_out(row, public_url)


async def list_advertisers(
    conn: Executor, *, page: PageParams, status: str | None, public_url: str
) -> Page[AdvertiserOut]:
    rows = await conn.fetch(*queries.LIST.bind(page.after, page.limit, status))
    return page.of([_advertiser_out(r, public_url) for r in rows], rows)


async def get_advertiser(conn: Executor, *, advertiser_id: int, public_url: str) -> AdvertiserOut:
    row = found(await conn.fetchrow(queries.GET, advertiser_id), "advertiser", advertiser_id)
    return _advertiser_out(row, public_url)


async def first_named(conn: Executor, *, name: str, public_url: str) -> AdvertiserOut | None:
    row = await conn.fetchrow(queries.FIRST_NAMED, name)
    return None if row is None else _advertiser_out(row, public_url)


async def advertiser_status(conn: Executor, *, advertiser_id: int) -> str | None:
    """The status, or None when there is no such advertiser."""
    status: str | None = await conn.fetchval(queries.STATUS, advertiser_id)
    return status


async def update_advertiser(
    conn: Executor, *, advertiser_id: int, body: AdvertiserPatch, public_url: str
) -> AdvertiserOut:
    changes = patch.changes(body, nullable=body.nullable)
    if not changes:
        return await get_advertiser(conn, advertiser_id=advertiser_id, public_url=public_url)
    sql = patch.update_sql(
        "advertisers", list(changes), queries.COLUMNS, casts={"ip_allowlist": "cidr[]"}
    )
    row = found(
        await conn.fetchrow(sql, advertiser_id, *changes.values()), "advertiser", advertiser_id
    )
    return _advertiser_out(row, public_url)


async def rotate_postback_token(
    conn: Executor, *, advertiser_id: int, public_url: str
) -> AdvertiserOut:
    row = await conn.fetchrow(queries.ROTATE_POSTBACK_TOKEN, advertiser_id, new_postback_token())
    return _advertiser_out(found(row, "advertiser", advertiser_id), public_url)


async def delete_advertiser(conn: Connection, *, advertiser_id: int) -> None:
    async with conn.transaction():
        found(await conn.fetchrow(queries.GET, advertiser_id), "advertiser", advertiser_id)
        if await conn.fetchval(queries.IS_REFERENCED, advertiser_id):
            await conn.execute(queries.ARCHIVE, advertiser_id)
        else:
            await conn.execute(queries.DELETE, advertiser_id)
