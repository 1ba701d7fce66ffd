"""Links: one affiliate on one offer, owning the `code` of its tracking URL.

A link's code and target stay fixed once made (the URL is out in the world); only its
status changes.
"""

from __future__ import annotations

import secrets
from typing import Literal

import asyncpg

from app.api_params import IdQuery
from app.catalog import affiliates, offers
from app.catalog.queries import links as queries
from app.catalog.schemas import LinkIn, LinkOut
from app.db import Executor
from app.errors import Conflict, NotFound, found
from app.pagination import AffiliatePage, Page

CODE_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # ~58 bits from a 57-symbol alphabet: unguessable, still short
CODE_ATTEMPTS = 5


def new_link_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _link_out(row: asyncpg.Record | None, link_id: int, public_url: str) -> LinkOut:
    row = found(row, "link", link_id)
    return LinkOut(tracking_url=f"{public_url}/c/{row['code']}", **dict(row))


def _check_target(name: str, ref: int, status: str | None) -> None:
    if status is None:
        raise Conflict(f"{name} {ref} does not exist", code="invalid_reference")
    if status == "archived":
        raise Conflict(f"{name} {ref} is archived")


async def create_link(conn: Executor, *, body: LinkIn, public_url: str) -> LinkOut:
    _check_target(
        "affiliate",
        body.affiliate_id,
        await affiliates.affiliate_status(conn, affiliate_id=body.affiliate_id),
    )
    _check_target("offer", body.offer_id, await offers.offer_status(conn, offer_id=body.offer_id))
    for _ in range(CODE_ATTEMPTS):
        row = await conn.fetchrow(
            queries.INSERT, body.code or new_link_code(), body.affiliate_id, body.offer_id
        )
        if row is not None:
            return _link_out(row, row["id"], public_url)
        if body.code is not None:
            raise Conflict(f"link code {body.code!r} is taken", code="duplicate_code")
    raise Conflict("could not generate a free link code; try again")


class LinkQuery(AffiliatePage):
    offer_id: IdQuery = None
    status: Literal["active", "archived"] | None = None


async def list_links(
    conn: Executor, *, query: LinkQuery, public_url: str, among: list[int] | None = None
) -> Page[LinkOut]:
    """`among`: the only affiliates whose links a portal manager may see (None: all)."""
    rows = await conn.fetch(*queries.LIST.bind(*query.arguments(), among))
    return query.of([_link_out(r, r["id"], public_url) for r in rows], rows)


async def link_for(
    conn: Executor, *, affiliate_id: int, offer_id: int, public_url: str
) -> tuple[LinkOut, bool]:
    """The affiliate's active link on the offer, or a new one by create_link (True: made,
    so the redirect caches must hear of it). One link per affiliate and offer is enough:
    sub-IDs ride in its query."""
    query = LinkQuery(limit=1, affiliate_id=affiliate_id, offer_id=offer_id, status="active")
    existing = await list_links(conn, query=query, public_url=public_url)
    if existing.items:
        return existing.items[0], False
    body = LinkIn(affiliate_id=affiliate_id, offer_id=offer_id)
    return await create_link(conn, body=body, public_url=public_url), True


async def get_link(conn: Executor, *, link_id: int, public_url: str) -> LinkOut:
    return _link_out(await conn.fetchrow(queries.GET, link_id), link_id, public_url)


async def set_link_status(conn: Executor, *, link_id: int, status: str, public_url: str) -> LinkOut:
    row = await conn.fetchrow(queries.SET_STATUS, link_id, status)
    return _link_out(row, link_id, public_url)


async def archive_link(conn: Executor, *, link_id: int) -> None:
    if await conn.fetchrow(queries.SET_STATUS, link_id, "archived") is None:
        raise NotFound(f"link {link_id} does not exist")
