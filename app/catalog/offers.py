"""Offers: where a link sends its visitors, what a conversion earns and pays, and the caps.

An offer's goals, per-affiliate payout overrides and caps are rows of their own, given and
replaced as whole lists with the offer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg

from app.api_params import IdQuery
from app.catalog import advertisers, affiliates, patch
from app.catalog.fields import Cap, Goal, PayoutOverride, Rule
from app.catalog.queries import offers as queries
from app.catalog.schemas import OfferIn, OfferOut, OfferPatch
from app.catalog.targeting import Targeting
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, found
from app.mail import service as mail_service
from app.pagination import Page, PageParams
from app.webhooks import events as webhooks

if TYPE_CHECKING:
    from app.keys.service import Principal

T = TypeVar("T")

# Columns stored as the API shows them, which a PATCH sets as they are; each rule (revenue,
# payout, recurring_payout) is two columns, read by _rule.
_SCALARS = (
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
    "attribution_model",
    "lifetime_days",
    "recurring_limit",
    "hold_days",
)


def _rule(row: asyncpg.Record, prefix: str) -> Rule:
    """The rule stored as the columns `<prefix>_type` and `<prefix>_value`."""
    return Rule.model_validate({"type": row[f"{prefix}_type"], "value": row[f"{prefix}_value"]})


def _optional_rule(row: asyncpg.Record, prefix: str) -> Rule | None:
    return None if row[f"{prefix}_type"] is None else _rule(row, prefix)


def _targeting(row: asyncpg.Record) -> Targeting:
    return Targeting.model_construct(
        countries=list(row["targeting_countries"]),
        country_mode=row["targeting_country_mode"],
        devices=list(row["targeting_devices"]),
    )


def _targeting_columns(targeting: Targeting | None) -> dict[str, Any]:
    """The columns of a targeting (None: none, every click fits)."""
    targeting = targeting or Targeting()
    return {
        "targeting_countries": targeting.countries,
        "targeting_country_mode": targeting.country_mode,
        "targeting_devices": targeting.devices,
    }


def _goal(row: asyncpg.Record) -> Goal:
    return Goal(
        name=row["name"],
        revenue=_rule(row, "revenue"),
        payout=_rule(row, "payout"),
        allow_multiple=row["allow_multiple"],
    )


def _override(row: asyncpg.Record) -> PayoutOverride:
    return PayoutOverride(
        affiliate_id=row["affiliate_id"],
        type=row["payout_type"],
        value=row["payout_value"],
        recurring=_optional_rule(row, "recurring"),
    )


def _cap(row: asyncpg.Record) -> Cap:
    return Cap(
        metric=row["metric"],
        period=row["period"],
        limit=row["cap_limit"],
        affiliate_id=row["affiliate_id"],
    )


async def _offers_out(conn: Executor, rows: list[asyncpg.Record]) -> list[OfferOut]:
    """Offers with their goals, overrides and caps, loaded in three queries for the page."""
    ids = [r["id"] for r in rows]

    async def by_offer(query: str, item: Callable[[asyncpg.Record], T]) -> dict[int, list[T]]:
        grouped: defaultdict[int, list[T]] = defaultdict(list)
        for row in await conn.fetch(query, ids) if ids else []:
            grouped[row["offer_id"]].append(item(row))
        return grouped

    goals = await by_offer(queries.GOALS, _goal)
    overrides = await by_offer(queries.OVERRIDES, _override)
    caps = await by_offer(queries.CAPS, _cap)
    return [
        OfferOut(
            id=r["id"],
            advertiser_id=r["advertiser_id"],
            **{name: r[name] for name in _SCALARS},
            revenue=_rule(r, "revenue"),
            payout=_rule(r, "payout"),
            recurring_payout=_optional_rule(r, "recurring_payout"),
            goals=goals.get(r["id"], []),
            payout_overrides=overrides.get(r["id"], []),
            caps=caps.get(r["id"], []),
            targeting=_targeting(r),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )
        for r in rows
    ]


async def _check_references(
    conn: Connection,
    *,
    advertiser_id: int | None,
    overrides: list[PayoutOverride] | None,
    caps: list[Cap] | None,
) -> None:
    if advertiser_id is not None:
        status = await advertisers.advertiser_status(conn, advertiser_id=advertiser_id)
        if status is None:
            raise Conflict(f"advertiser {advertiser_id} does not exist", code="invalid_reference")
        if status == "archived":
            raise Conflict(f"advertiser {advertiser_id} is archived")
    wanted = {o.affiliate_id for o in overrides or []} | {
        c.affiliate_id for c in caps or [] if c.affiliate_id is not None
    }
    if wanted:
        found = await affiliates.existing_affiliate_ids(conn, list(wanted))
        missing = sorted(wanted - found)
        if missing:
            raise Conflict(f"affiliate {missing[0]} does not exist", code="invalid_reference")


async def _replace_children(
    conn: Connection,
    offer_id: int,
    *,
    goals: list[Goal] | None,
    overrides: list[PayoutOverride] | None,
    caps: list[Cap] | None,
) -> None:
    # Each INSERT unnests one array a column, in the order of the names beside it.
    children: tuple[tuple[Sequence[object] | None, str, str, tuple[str, ...]], ...] = (
        (
            goals,
            queries.DELETE_GOALS,
            queries.INSERT_GOALS,
            (
                "name",
                "revenue.type",
                "revenue.value",
                "payout.type",
                "payout.value",
                "allow_multiple",
            ),
        ),
        (
            overrides,
            queries.DELETE_OVERRIDES,
            queries.INSERT_OVERRIDES,
            ("affiliate_id", "type", "value", "recurring_type", "recurring_value"),
        ),
        (
            caps,
            queries.DELETE_CAPS,
            queries.INSERT_CAPS,
            ("metric", "period", "limit", "affiliate_id"),
        ),
    )
    for items, delete, insert, fields in children:
        if items is None:
            continue
        await conn.execute(delete, offer_id)
        await conn.execute(
            insert, offer_id, *([_field(item, name) for item in items] for name in fields)
        )


def _field(item: object, name: str) -> object:
    # An override's optional recurring rule is two nullable columns.
    if name.startswith("recurring_"):
        rule = getattr(item, "recurring", None)
        return None if rule is None else getattr(rule, name.removeprefix("recurring_"))
    return attrgetter(name)(item)


async def create_offer(conn: Connection, *, body: OfferIn) -> OfferOut:
    async with conn.transaction():
        await _check_references(
            conn,
            advertiser_id=body.advertiser_id,
            overrides=body.payout_overrides,
            caps=body.caps,
        )
        row = await conn.fetchrow(
            queries.INSERT,
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
            body.attribution_model,
            body.lifetime_days,
            body.recurring_payout.type if body.recurring_payout else None,
            body.recurring_payout.value if body.recurring_payout else None,
            body.recurring_limit,
            body.hold_days,
            *_targeting_columns(body.targeting).values(),
        )
        assert row is not None
        await _replace_children(
            conn, row["id"], goals=body.goals, overrides=body.payout_overrides, caps=body.caps
        )
        return (await _offers_out(conn, [row]))[0]


class OfferQuery(PageParams):
    advertiser_id: IdQuery = None
    status: Literal["active", "paused", "archived"] | None = None


async def list_offers(conn: Executor, *, query: OfferQuery) -> Page[OfferOut]:
    rows = await conn.fetch(*queries.LIST.bind(*query.arguments()))
    return query.of(await _offers_out(conn, rows), rows)


async def get_offer(conn: Executor, *, offer_id: int) -> OfferOut:
    row = found(await conn.fetchrow(queries.GET, offer_id), "offer", offer_id)
    return (await _offers_out(conn, [row]))[0]


async def offer_status(conn: Executor, *, offer_id: int) -> str | None:
    """The status, or None when there is no such offer."""
    status: str | None = await conn.fetchval(queries.STATUS, offer_id)
    return status


async def update_offer(conn: Connection, *, offer_id: int, body: OfferPatch) -> OfferOut:
    changes = patch.changes(body, nullable=body.nullable)
    async with conn.transaction():
        current = found(await conn.fetchrow(queries.GET_FOR_UPDATE, offer_id), "offer", offer_id)
        goals = changes.get("goals")
        main_goal = changes.get("main_goal", current["main_goal"])
        if goals is None and "main_goal" in changes:
            goals_now = (await _offers_out(conn, [current]))[0].goals
            if any(g.name == main_goal for g in goals_now):
                raise BadRequest(
                    f"goal {main_goal!r} already exists as another goal", code="invalid_request"
                )
        elif goals is not None and any(g.name == main_goal for g in goals):
            raise BadRequest(
                f"goal {main_goal!r} is the main goal; set its rules on the offer",
                code="invalid_request",
            )
        await _check_references(
            conn,
            advertiser_id=None,
            overrides=changes.get("payout_overrides"),
            caps=changes.get("caps"),
        )
        columns: dict[str, Any] = {k: v for k, v in changes.items() if k in _SCALARS}
        for money in ("revenue", "payout"):
            if money in changes:
                columns[f"{money}_type"] = changes[money].type
                columns[f"{money}_value"] = changes[money].value
        if "recurring_payout" in changes:
            recurring = changes["recurring_payout"]
            columns["recurring_payout_type"] = recurring.type if recurring else None
            columns["recurring_payout_value"] = recurring.value if recurring else None
        if "targeting" in changes:
            columns.update(_targeting_columns(changes["targeting"]))
        if columns:
            sql = patch.update_sql("offers", list(columns), queries.COLUMNS)
            await conn.execute(sql, offer_id, *columns.values())
        elif changes:
            # Goals, overrides or caps only: the link caches find changed offers by updated_at.
            await conn.execute(queries.TOUCH, offer_id)
        await _replace_children(
            conn,
            offer_id,
            goals=goals,
            overrides=changes.get("payout_overrides"),
            caps=changes.get("caps"),
        )
        if changes.get("status", current["status"]) != current["status"]:
            await _status_changed(conn, current, changes["status"])
        if changes.get("status") == "paused" and current["status"] != "paused":
            await mail_service.notify_offer(
                conn,
                "offer_paused",
                offer_id,
                {"offer_id": offer_id, "offer_name": current["name"]},
            )
        return await get_offer(conn, offer_id=offer_id)


async def _status_changed(conn: Connection, offer: Any, status: str) -> None:
    data = {
        "offer_id": offer["id"],
        "advertiser_id": offer["advertiser_id"],
        "name": offer["name"],
        "status": status,
        "previous_status": offer["status"],
    }
    await webhooks.emit(conn, "offer.status_changed", data, offer_id=offer["id"])


async def delete_offer(conn: Connection, *, offer_id: int) -> None:
    async with conn.transaction():
        current = found(await conn.fetchrow(queries.GET_FOR_UPDATE, offer_id), "offer", offer_id)
        if await conn.fetchval(queries.HAS_LINKS, offer_id):
            await conn.execute(queries.ARCHIVE, offer_id)
            if current["status"] != "archived":
                await _status_changed(conn, current, "archived")
        else:
            await conn.execute(queries.DELETE, offer_id)


def seen_by(offer: OfferOut, caller: Principal) -> OfferOut:
    """The offer as a staff member may see it (the API's and the portal's one rule): an
    owner all of it, a manager without the payout overrides and caps of affiliates not
    theirs (the offer-wide caps stay)."""
    if not caller.is_manager:
        return offer
    overrides = [o for o in offer.payout_overrides if caller.allows(o.affiliate_id)]
    caps = [c for c in offer.caps if c.affiliate_id is None or caller.allows(c.affiliate_id)]
    return offer.model_copy(update={"payout_overrides": overrides, "caps": caps})
