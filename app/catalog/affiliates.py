"""Affiliates: who sends traffic, and where their own postbacks go."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from pydantic import BaseModel

from app.catalog import patch
from app.catalog.queries import affiliates as queries
from app.catalog.schemas import AffiliateIn, AffiliateOut, AffiliatePatch
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, Forbidden, found
from app.money import format_money
from app.pagination import Page, PageParams
from app.partners import history, lifecycle
from app.partners import profile as profile_service
from app.partners.history import Actor
from app.sender import service as sender_service


def thresholds_json(thresholds: dict[str, Decimal]) -> str:
    """JSON text (a connection without the pool's JSON codec takes it too), the amounts as
    decimal strings (JSON numbers would go through float)."""
    return orjson.dumps(
        {currency: format_money(amount) for currency, amount in sorted(thresholds.items())}
    ).decode()


def _affiliate_out(row: asyncpg.Record | None, affiliate_id: int) -> AffiliateOut:
    return AffiliateOut(**dict(found(row, "affiliate", affiliate_id)))


async def _check_postback_url(url: str | None, allowed_networks: Sequence[str]) -> None:
    if url is None:
        return
    try:
        await sender_service.check_postback_url(url, allowed_networks)
    except sender_service.RefusedAddress as exc:
        raise BadRequest(f"postback_url: {exc}", code="invalid_request") from None


# What an affiliate's own key may change of its profile and its postback (status, tags,
# group, manager, notes and the signing secret are the program's).
SELF_EDITABLE = frozenset(
    {"company", "website", "country", "contact", "postback_url", "postback_method", "postback_on"}
)


async def _check_references(conn: Executor, fields: dict[str, Any]) -> None:
    try:
        await profile_service.check_references(
            conn, manager_id=fields.get("manager_id"), group_id=fields.get("group_id")
        )
    except profile_service.UnknownReference as exc:
        raise Conflict(str(exc), code="invalid_reference") from None


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """Profile values as their columns hold them."""
    if isinstance(fields.get("contact"), BaseModel):
        fields["contact"] = fields["contact"].model_dump()
    if fields.get("tags") is not None:
        fields["tags"] = list(dict.fromkeys(fields["tags"]))
    return fields


async def create_affiliate(
    conn: Connection, *, body: AffiliateIn, actor: Actor, allowed_networks: Sequence[str] = ()
) -> AffiliateOut:
    """`allowed_networks`: private networks a postback URL may point at (settings)."""
    await _check_postback_url(body.postback_url, allowed_networks)
    fields = _stored(body.model_dump())
    await _check_references(conn, fields)
    async with conn.transaction():
        row = await conn.fetchrow(
            queries.INSERT,
            *(fields[name] for name in ("name", "email", "postback_url", "postback_method")),
            *(fields[name] for name in ("postback_on", "status", "signing_secret", "company")),
            *(fields[name] for name in ("website", "country", "contact")),
            fields["tags"] or [],
            fields["manager_id"],
            fields["group_id"],
            thresholds_json(fields["payout_threshold"] or {}),
        )
        assert row is not None
        await history.record(
            conn,
            actor,
            [
                history.Change(row["id"], "status", None, row["status"], "created"),
                *(
                    [history.Change(row["id"], "group", None, str(row["group_id"]), "created")]
                    if row["group_id"] is not None
                    else []
                ),
            ],
        )
    return AffiliateOut(**dict(row))


async def list_affiliates(
    conn: Executor,
    *,
    page: PageParams,
    only_affiliate_id: int | None,
    status: str | None,
    tag: str | None = None,
    group_id: int | None = None,
    among: list[int] | None = None,
) -> Page[AffiliateOut]:
    """`only_affiliate_id`: the one affiliate an affiliate key may see (None: all);
    `among`: the only ones a portal manager may see (None: all)."""
    rows = await conn.fetch(
        queries.LIST, page.after, page.limit, only_affiliate_id, status, tag, group_id, among
    )
    return page.of([AffiliateOut(**dict(r)) for r in rows], rows)


async def get_affiliate(conn: Executor, *, affiliate_id: int) -> AffiliateOut:
    return _affiliate_out(await conn.fetchrow(queries.GET, affiliate_id), affiliate_id)


async def affiliate_status(conn: Executor, *, affiliate_id: int) -> str | None:
    """The status, or None when there is no such affiliate."""
    status: str | None = await conn.fetchval(queries.STATUS, affiliate_id)
    return status


async def existing_affiliate_ids(conn: Executor, affiliate_ids: list[int]) -> set[int]:
    return {r["id"] for r in await conn.fetch(queries.EXISTING_IDS, affiliate_ids)}


async def affiliate_names(conn: Executor, affiliate_ids: list[int]) -> dict[int, str]:
    """The names of those of these affiliates that exist (for pages listing their IDs)."""
    return {r["id"]: r["name"] for r in await conn.fetch(queries.NAMES, affiliate_ids)}


async def update_affiliate(
    conn: Connection,
    *,
    affiliate_id: int,
    body: AffiliatePatch,
    actor: Actor,
    allowed_networks: Sequence[str] = (),
) -> AffiliateOut:
    """Change the fields given; a status change follows the lifecycle (409 otherwise), and
    it and a group change are recorded in the history. An affiliate's own key may change
    SELF_EDITABLE only."""
    changes = _stored(patch.changes(body, nullable=body.nullable))
    if actor.role == "affiliate" and (refused := sorted(set(changes) - SELF_EDITABLE)):
        raise Forbidden(f"an affiliate key may not change {', '.join(refused)}")
    if changes.get("payout_threshold") is not None:
        changes["payout_threshold"] = thresholds_json(changes["payout_threshold"])
    await _check_postback_url(changes.get("postback_url"), allowed_networks)
    await _check_references(conn, changes)
    status = changes.pop("status", None)
    async with conn.transaction():
        locked = found(await conn.fetchrow(queries.LOCK, affiliate_id), "affiliate", affiliate_id)
        if status is not None:
            await lifecycle.set_status(conn, affiliate_id=affiliate_id, status=status, actor=actor)
        if "group_id" in changes and changes["group_id"] != locked["group_id"]:
            before, after = locked["group_id"], changes["group_id"]
            await history.record(
                conn,
                actor,
                [
                    history.Change(
                        affiliate_id,
                        "group",
                        history.group_value(before),
                        history.group_value(after),
                    )
                ],
            )
        if changes:
            sql = patch.update_sql(
                "affiliates", list(changes), queries.COLUMNS, {"payout_threshold": "text::jsonb"}
            )
            await conn.execute(sql, affiliate_id, *changes.values())
    return await get_affiliate(conn, affiliate_id=affiliate_id)


async def delete_affiliate(conn: Connection, *, affiliate_id: int, actor: Actor) -> None:
    async with conn.transaction():
        before = found(await conn.fetchval(queries.STATUS, affiliate_id), "affiliate", affiliate_id)
        if await conn.fetchval(queries.IS_REFERENCED, affiliate_id):
            await conn.execute(queries.ARCHIVE, affiliate_id)
            await lifecycle.record_archived(
                conn, affiliate_id=affiliate_id, before=before, actor=actor
            )
        else:
            await conn.execute(queries.DELETE, affiliate_id)
