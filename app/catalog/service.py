"""Catalog rules: what may be created, changed, archived or deleted, and change notices.

DELETE removes a row only when nothing refers to it; otherwise it archives the row, so
history stays attributable. Links are never removed: a shared tracking link keeps
redirecting (to the offer's fallback once archived) instead of starting to 404.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.catalog import queries
from app.catalog.schemas import (
    AdvertiserIn,
    AdvertiserOut,
    AdvertiserPatch,
    AffiliateIn,
    AffiliateOut,
    AffiliatePatch,
    Cap,
    Goal,
    LinkIn,
    LinkOut,
    OfferIn,
    OfferOut,
    OfferPatch,
    PayoutOverride,
    Rule,
)
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, NotFound
from app.sender import ssrf

logger = logging.getLogger(__name__)

CATALOG_VERSION_KEY = "catalog:version"
CATALOG_CHANNEL = "catalog:changed"
CODE_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10  # ~58 bits from a 57-symbol alphabet: unguessable, still short


async def notify_changed(redis: Redis) -> None:
    """Tell every web process to reload its redirect cache.

    The version key lets a process that missed the message notice on its next poll; a
    failure here is only logged, because the change is already committed.
    """
    try:
        version = await redis.incr(CATALOG_VERSION_KEY)
        await redis.publish(CATALOG_CHANNEL, str(version))
    except RedisError:
        logger.warning("catalog change notice failed; caches refresh on their TTL")


def _only_set(body: Any, nullable: frozenset[str]) -> dict[str, Any]:
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    for name, value in changes.items():
        if value is None and name not in nullable:
            raise BadRequest(f"{name}: may not be null", code="invalid_request")
    return changes


def _update_sql(
    table: str, columns: list[str], returning: str, casts: dict[str, str] | None = None
) -> str:
    """UPDATE ... SET for whitelisted column names (from a model's fields), values bound."""
    casts = casts or {}
    assignments = ", ".join(
        f"{c} = ${i}" + (f"::{casts[c]}" if c in casts else "")
        for i, c in enumerate(columns, start=2)
    )
    return (
        f"UPDATE {table} SET {assignments}, updated_at = now() WHERE id = $1 RETURNING {returning}"
    )


# --- advertisers -------------------------------------------------------------------


def new_postback_token() -> str:
    return secrets.token_urlsafe(24)


def advertiser_out(row: asyncpg.Record, public_url: str) -> AdvertiserOut:
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


async def create_advertiser(conn: Executor, *, body: AdvertiserIn) -> asyncpg.Record:
    row = await conn.fetchrow(
        queries.INSERT_ADVERTISER,
        body.name,
        body.ip_allowlist,
        new_postback_token(),
        body.signing_secret,
    )
    assert row is not None
    return row


async def get_advertiser(conn: Executor, *, advertiser_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(queries.GET_ADVERTISER, advertiser_id)
    if row is None:
        raise NotFound(f"advertiser {advertiser_id} does not exist")
    return row


async def update_advertiser(
    conn: Executor, *, advertiser_id: int, body: AdvertiserPatch
) -> asyncpg.Record:
    changes = _only_set(body, body.nullable)
    if not changes:
        return await get_advertiser(conn, advertiser_id=advertiser_id)
    sql = _update_sql(
        "advertisers", list(changes), queries.ADVERTISER_COLUMNS, casts={"ip_allowlist": "cidr[]"}
    )
    row = await conn.fetchrow(sql, advertiser_id, *changes.values())
    if row is None:
        raise NotFound(f"advertiser {advertiser_id} does not exist")
    return row


async def rotate_token(conn: Executor, *, advertiser_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(queries.ROTATE_ADVERTISER_TOKEN, advertiser_id, new_postback_token())
    if row is None:
        raise NotFound(f"advertiser {advertiser_id} does not exist")
    return row


async def delete_advertiser(conn: Connection, *, advertiser_id: int) -> None:
    async with conn.transaction():
        await get_advertiser(conn, advertiser_id=advertiser_id)
        if await conn.fetchval(queries.ADVERTISER_IS_REFERENCED, advertiser_id):
            await conn.execute(queries.ARCHIVE_ADVERTISER, advertiser_id)
        else:
            await conn.execute(queries.DELETE_ADVERTISER, advertiser_id)


# --- offers ------------------------------------------------------------------------


def _rule(kind: str, value: Any) -> Rule:
    return Rule.model_validate({"type": kind, "value": value})


async def offers_out(conn: Executor, rows: list[asyncpg.Record]) -> list[OfferOut]:
    """Offers with their goals, overrides and caps, loaded in three queries for the page."""
    ids = [r["id"] for r in rows]
    goals: defaultdict[int, list[Goal]] = defaultdict(list)
    overrides: defaultdict[int, list[PayoutOverride]] = defaultdict(list)
    caps: defaultdict[int, list[Cap]] = defaultdict(list)
    if ids:
        for g in await conn.fetch(queries.OFFER_GOALS, ids):
            goals[g["offer_id"]].append(
                Goal(
                    name=g["name"],
                    revenue=_rule(g["revenue_type"], g["revenue_value"]),
                    payout=_rule(g["payout_type"], g["payout_value"]),
                    allow_multiple=g["allow_multiple"],
                )
            )
        for o in await conn.fetch(queries.OFFER_OVERRIDES, ids):
            overrides[o["offer_id"]].append(
                PayoutOverride(
                    affiliate_id=o["affiliate_id"], type=o["payout_type"], value=o["payout_value"]
                )
            )
        for c in await conn.fetch(queries.OFFER_CAPS, ids):
            caps[c["offer_id"]].append(
                Cap(
                    metric=c["metric"],
                    period=c["period"],
                    limit=c["cap_limit"],
                    affiliate_id=c["affiliate_id"],
                )
            )
    return [
        OfferOut(
            id=r["id"],
            advertiser_id=r["advertiser_id"],
            name=r["name"],
            url=r["url"],
            fallback_url=r["fallback_url"],
            status=r["status"],
            currency=r["currency"],
            attribution_window_hours=r["attribution_window_hours"],
            main_goal=r["main_goal"],
            main_goal_multiple=r["main_goal_multiple"],
            revenue=_rule(r["revenue_type"], r["revenue_value"]),
            payout=_rule(r["payout_type"], r["payout_value"]),
            allow_payout_param=r["allow_payout_param"],
            pixel_policy=r["pixel_policy"],
            pixel_status=r["pixel_status"],
            max_amount=r["max_amount"],
            goals=goals[r["id"]],
            payout_overrides=overrides[r["id"]],
            caps=caps[r["id"]],
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def _check_offer_references(
    conn: Connection,
    *,
    advertiser_id: int | None,
    overrides: list[PayoutOverride] | None,
    caps: list[Cap] | None,
) -> None:
    if advertiser_id is not None:
        status = await conn.fetchval(queries.ADVERTISER_STATUS, advertiser_id)
        if status is None:
            raise Conflict(f"advertiser {advertiser_id} does not exist", code="invalid_reference")
        if status == "archived":
            raise Conflict(f"advertiser {advertiser_id} is archived")
    wanted = {o.affiliate_id for o in overrides or []} | {
        c.affiliate_id for c in caps or [] if c.affiliate_id is not None
    }
    if wanted:
        found = {r["id"] for r in await conn.fetch(queries.EXISTING_AFFILIATES, list(wanted))}
        missing = sorted(wanted - found)
        if missing:
            raise Conflict(f"affiliate {missing[0]} does not exist", code="invalid_reference")


async def _replace_offer_children(
    conn: Connection,
    offer_id: int,
    *,
    goals: list[Goal] | None,
    overrides: list[PayoutOverride] | None,
    caps: list[Cap] | None,
) -> None:
    if goals is not None:
        await conn.execute(queries.DELETE_OFFER_GOALS, offer_id)
        await conn.execute(
            queries.INSERT_OFFER_GOALS,
            offer_id,
            [g.name for g in goals],
            [g.revenue.type for g in goals],
            [g.revenue.value for g in goals],
            [g.payout.type for g in goals],
            [g.payout.value for g in goals],
            [g.allow_multiple for g in goals],
        )
    if overrides is not None:
        await conn.execute(queries.DELETE_OFFER_OVERRIDES, offer_id)
        await conn.execute(
            queries.INSERT_OFFER_OVERRIDES,
            offer_id,
            [o.affiliate_id for o in overrides],
            [o.type for o in overrides],
            [o.value for o in overrides],
        )
    if caps is not None:
        await conn.execute(queries.DELETE_OFFER_CAPS, offer_id)
        await conn.execute(
            queries.INSERT_OFFER_CAPS,
            offer_id,
            [c.metric for c in caps],
            [c.period for c in caps],
            [c.limit for c in caps],
            [c.affiliate_id for c in caps],
        )


async def create_offer(conn: Connection, *, body: OfferIn) -> OfferOut:
    async with conn.transaction():
        await _check_offer_references(
            conn,
            advertiser_id=body.advertiser_id,
            overrides=body.payout_overrides,
            caps=body.caps,
        )
        row = await conn.fetchrow(
            queries.INSERT_OFFER,
            body.advertiser_id,
            body.name,
            body.url,
            body.fallback_url,
            body.status,
            body.currency,
            body.attribution_window_hours,
            body.main_goal,
            body.main_goal_multiple,
            body.revenue.type,
            body.revenue.value,
            body.payout.type,
            body.payout.value,
            body.allow_payout_param,
            body.pixel_policy,
            body.pixel_status,
            body.max_amount,
        )
        assert row is not None
        await _replace_offer_children(
            conn, row["id"], goals=body.goals, overrides=body.payout_overrides, caps=body.caps
        )
        return (await offers_out(conn, [row]))[0]


async def get_offer(conn: Executor, *, offer_id: int) -> OfferOut:
    row = await conn.fetchrow(queries.GET_OFFER, offer_id)
    if row is None:
        raise NotFound(f"offer {offer_id} does not exist")
    return (await offers_out(conn, [row]))[0]


_OFFER_SCALARS = (
    "name",
    "url",
    "fallback_url",
    "status",
    "currency",
    "attribution_window_hours",
    "main_goal",
    "main_goal_multiple",
    "allow_payout_param",
    "pixel_policy",
    "pixel_status",
    "max_amount",
)


async def update_offer(conn: Connection, *, offer_id: int, body: OfferPatch) -> OfferOut:
    changes = _only_set(body, body.nullable)
    async with conn.transaction():
        current = await conn.fetchrow(queries.GET_OFFER_FOR_UPDATE, offer_id)
        if current is None:
            raise NotFound(f"offer {offer_id} does not exist")
        goals = changes.get("goals")
        main_goal = changes.get("main_goal", current["main_goal"])
        if goals is None and "main_goal" in changes:
            existing = await offers_out(conn, [current])
            goals_now = existing[0].goals
            if any(g.name == main_goal for g in goals_now):
                raise BadRequest(
                    f"goal {main_goal!r} already exists as another goal", code="invalid_request"
                )
        elif goals is not None and any(g.name == main_goal for g in goals):
            raise BadRequest(
                f"goal {main_goal!r} is the main goal; set its rules on the offer",
                code="invalid_request",
            )
        await _check_offer_references(
            conn,
            advertiser_id=None,
            overrides=changes.get("payout_overrides"),
            caps=changes.get("caps"),
        )
        columns: dict[str, Any] = {k: v for k, v in changes.items() if k in _OFFER_SCALARS}
        for money in ("revenue", "payout"):
            if money in changes:
                columns[f"{money}_type"] = changes[money].type
                columns[f"{money}_value"] = changes[money].value
        if columns:
            sql = _update_sql("offers", list(columns), queries.OFFER_COLUMNS)
            await conn.execute(sql, offer_id, *columns.values())
        elif changes:
            # Goals, overrides or caps only: the link caches find changed offers by updated_at.
            await conn.execute(queries.TOUCH_OFFER, offer_id)
        await _replace_offer_children(
            conn,
            offer_id,
            goals=goals,
            overrides=changes.get("payout_overrides"),
            caps=changes.get("caps"),
        )
        return await get_offer(conn, offer_id=offer_id)


async def delete_offer(conn: Connection, *, offer_id: int) -> None:
    async with conn.transaction():
        if await conn.fetchrow(queries.GET_OFFER_FOR_UPDATE, offer_id) is None:
            raise NotFound(f"offer {offer_id} does not exist")
        if await conn.fetchval(queries.OFFER_HAS_LINKS, offer_id):
            await conn.execute(queries.ARCHIVE_OFFER, offer_id)
        else:
            await conn.execute(queries.DELETE_OFFER, offer_id)


# --- affiliates --------------------------------------------------------------------


def affiliate_out(row: asyncpg.Record) -> AffiliateOut:
    return AffiliateOut(**dict(row))


async def _check_postback_url(url: str | None, allowed_networks: Sequence[str]) -> None:
    if url is None:
        return
    try:
        await ssrf.check_saved_url(url, ssrf.parse_networks(allowed_networks))
    except ssrf.RefusedAddress as exc:
        raise BadRequest(f"postback_url: {exc}", code="invalid_request") from None


async def create_affiliate(
    conn: Executor, *, body: AffiliateIn, allowed_networks: Sequence[str] = ()
) -> AffiliateOut:
    """`allowed_networks`: private networks a postback URL may point at (settings)."""
    await _check_postback_url(body.postback_url, allowed_networks)
    row = await conn.fetchrow(
        queries.INSERT_AFFILIATE,
        body.name,
        body.email,
        body.postback_url,
        body.postback_method,
        body.postback_on,
        body.status,
        body.signing_secret,
    )
    assert row is not None
    return affiliate_out(row)


async def get_affiliate(conn: Executor, *, affiliate_id: int) -> AffiliateOut:
    row = await conn.fetchrow(queries.GET_AFFILIATE, affiliate_id)
    if row is None:
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    return affiliate_out(row)


async def update_affiliate(
    conn: Executor, *, affiliate_id: int, body: AffiliatePatch, allowed_networks: Sequence[str] = ()
) -> AffiliateOut:
    changes = _only_set(body, body.nullable)
    await _check_postback_url(changes.get("postback_url"), allowed_networks)
    if not changes:
        return await get_affiliate(conn, affiliate_id=affiliate_id)
    sql = _update_sql("affiliates", list(changes), queries.AFFILIATE_COLUMNS)
    row = await conn.fetchrow(sql, affiliate_id, *changes.values())
    if row is None:
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    return affiliate_out(row)


async def delete_affiliate(conn: Connection, *, affiliate_id: int) -> None:
    async with conn.transaction():
        await get_affiliate(conn, affiliate_id=affiliate_id)
        if await conn.fetchval(queries.AFFILIATE_IS_REFERENCED, affiliate_id):
            await conn.execute(queries.ARCHIVE_AFFILIATE, affiliate_id)
        else:
            await conn.execute(queries.DELETE_AFFILIATE, affiliate_id)


# --- links -------------------------------------------------------------------------


def new_link_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def link_out(row: asyncpg.Record, public_url: str) -> LinkOut:
    return LinkOut(tracking_url=f"{public_url}/c/{row['code']}", **dict(row))


async def create_link(conn: Executor, *, body: LinkIn) -> asyncpg.Record:
    for name, sql, ref in (
        ("affiliate", queries.AFFILIATE_STATUS, body.affiliate_id),
        ("offer", queries.OFFER_STATUS, body.offer_id),
    ):
        status = await conn.fetchval(sql, ref)
        if status is None:
            raise Conflict(f"{name} {ref} does not exist", code="invalid_reference")
        if status == "archived":
            raise Conflict(f"{name} {ref} is archived")
    for _ in range(5):
        row = await conn.fetchrow(
            queries.INSERT_LINK, body.code or new_link_code(), body.affiliate_id, body.offer_id
        )
        if row is not None:
            return row
        if body.code is not None:
            raise Conflict(f"link code {body.code!r} is taken", code="duplicate_code")
    raise Conflict("could not generate a free link code; try again")


async def get_link(conn: Executor, *, link_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(queries.GET_LINK, link_id)
    if row is None:
        raise NotFound(f"link {link_id} does not exist")
    return row


async def set_link_status(conn: Executor, *, link_id: int, status: str) -> asyncpg.Record:
    row = await conn.fetchrow(queries.SET_LINK_STATUS, link_id, status)
    if row is None:
        raise NotFound(f"link {link_id} does not exist")
    return row
