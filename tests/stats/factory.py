"""Clicks and conversions at chosen times, stored by the production code, and the
brute-force count over raw rows that every report is checked against."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.attribution import writer as attribution_writer
from app.clicks.store import COLUMNS, Click, ClickWriter
from app.db import Pool
from app.money import format_money
from app.rollups import registry

AGENTS = [
    ("desktop", "Windows", "Chrome"),
    ("mobile", "iOS", "Mobile Safari"),
    ("mobile", "Android", "Chrome Mobile"),
]
COUNTRIES = ["DE", "IN", "NP", "US", None]
SUBS = ["kw1", "kw2", "=cmd", "ü long", None]


def click(
    link: dict[str, Any],
    at: datetime,
    *,
    currency: str,
    sub1: str | None = None,
    source: str | None = None,
    country: str | None = None,
    agent: tuple[str, str, str] = AGENTS[0],
    is_bot: bool = False,
    is_unique: bool = False,
    diverted: str | None = None,
) -> Click:
    """A click as the worker's decoder makes it (COLUMNS order)."""
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    ms = int(at.timestamp() * 1000)
    values.update(
        click_id=uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0x2 << 62) | random.getrandbits(62)),
        clicked_at=datetime.fromtimestamp(ms / 1000, tz=UTC),
        link_id=link["id"],
        affiliate_id=link["affiliate_id"],
        offer_id=link["offer_id"],
        sub1=sub1,
        source=source,
        country=country,
        device="bot" if is_bot else agent[0],
        os=agent[1],
        browser=agent[2],
        is_bot=is_bot,
        is_unique=is_unique and not is_bot,
        diverted=diverted,
    )
    return Click(row=[values[c] for c in COLUMNS], currency=currency, visitor=b"")


async def store_clicks(pool: Pool, clicks: list[Click]) -> int:
    """Through the worker's own writer: clicks and rollups in one transaction."""
    return await ClickWriter(pool).write(clicks)


async def add_conversion(
    pool: Pool,
    stored: asyncpg.Record,
    *,
    advertiser_id: int,
    currency: str,
    status: str,
    created_at: datetime,
    revenue: Decimal,
    payout: Decimal,
    customer: int | None = None,
    new_customer: bool = False,
) -> int:
    """A conversion of a stored click, created at a chosen time, with attribution's own
    rollup and history effects (its worker always uses now()): a recurring one of
    `customer`, or the first of a new customer (`new_customer`) bound to its click."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO conversions (advertiser_id, txid, click_id, clicked_at, link_id,
                   affiliate_id, offer_id, goal, status, currency, revenue, payout, sub1, sub2,
                   sub3, sub4, sub5, source, aff_click_id, country, device, os, browser,
                   received_at, created_at)
               SELECT $1, $2, click_id, clicked_at, link_id, affiliate_id, offer_id,
                   'conversion', $3, $4, $5, $6, sub1, sub2, sub3, sub4, sub5, source,
                   aff_click_id, country, device, os, browser, $7, $7
               FROM clicks WHERE click_id = $8
               RETURNING *""",
            advertiser_id,
            f"tx-{uuid.uuid4()}",
            status,
            currency,
            revenue,
            payout,
            created_at,
            stored["click_id"],
        )
        assert row is not None
        values = dict(row)
        if new_customer:
            customer = await conn.fetchval(
                """INSERT INTO customers (advertiser_id, external_id, affiliate_id, offer_id,
                       link_id, click_id, clicked_at, sub1, sub2, sub3, sub4, sub5, source,
                       country, first_conversion_id, first_conversion_at)
                   SELECT advertiser_id, 'ext-' || id, affiliate_id, offer_id, link_id,
                       click_id, clicked_at, sub1, sub2, sub3, sub4, sub5, source, country,
                       id, received_at
                   FROM conversions WHERE id = $1
                   RETURNING id""",
                row["id"],
            )
        if customer is not None:
            recurring = not new_customer
            await conn.execute(
                "UPDATE conversions SET customer_id = $2, recurring = $3 WHERE id = $1",
                row["id"],
                customer,
                recurring,
            )
            values.update(customer_id=customer, recurring=recurring)
        await attribution_writer.apply_effects(conn, [(values, None, status, "test")], {})
    return int(row["id"])


# --- the brute force ----------------------------------------------------------------


@dataclass
class Totals:
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "clicks",
                "unique_clicks",
                "bot_clicks",
                "conversions",
                "pending_conversions",
                "rejected_conversions",
                "new_customers",
                "repeat_conversions",
                *registry.DIVERTED_METRICS,
            ),
            0,
        )
    )
    revenue: Decimal = Decimal(0)
    payout: Decimal = Decimal(0)
    customer_revenue: Decimal = Decimal(0)

    def metrics(self, *, admin: bool = True) -> dict[str, Any]:
        clicks = self.counts["clicks"]
        out: dict[str, Any] = dict(self.counts)
        out["revenue"] = format_money(self.revenue)
        out["payout"] = format_money(self.payout)
        out["customer_revenue"] = format_money(self.customer_revenue)
        out["profit"] = format_money(self.revenue - self.payout)
        out["cr"] = (
            format_money(
                (Decimal(self.counts["conversions"]) * 100 / clicks).quantize(
                    Decimal("0.01"), ROUND_HALF_UP
                )
            )
            if clicks
            else None
        )
        out["epc"] = (
            format_money((self.payout / clicks).quantize(Decimal("0.0001"), ROUND_HALF_UP))
            if clicks
            else None
        )
        if not admin:
            del out["revenue"], out["profit"], out["customer_revenue"]
        return out


def _dimension(name: str, row: asyncpg.Record, ts: datetime, zone: ZoneInfo) -> Any:
    local = ts.astimezone(zone)
    if name == "hour":
        return local.replace(minute=0, second=0, microsecond=0).isoformat()
    if name == "day":
        return local.date().isoformat()
    if name == "week":  # its Monday
        return (local.date() - timedelta(days=local.weekday())).isoformat()
    if name == "month":
        return local.date().replace(day=1).isoformat()
    if name in ("affiliate", "offer", "link"):
        return row[f"{name}_id"]
    value = row[name]
    return value.strip() if isinstance(value, str) and value.strip() else None


async def brute_force(
    pool: Pool,
    *,
    start: datetime,
    end: datetime,
    tz: str,
    group_by: list[str],
    filters: dict[str, list[Any]] | None = None,
) -> dict[tuple[Any, ...], Totals]:
    """(group values..., currency) -> totals, from every raw click and conversion."""
    zone = ZoneInfo(tz)
    clicks = await pool.fetch("SELECT * FROM clicks WHERE clicked_at >= $1 AND clicked_at < $2",
                              start, end)  # fmt: skip
    conversions = await pool.fetch(
        "SELECT * FROM conversions WHERE created_at >= $1 AND created_at < $2"
        " AND status <> 'unattributed'",
        start,
        end,
    )
    out: dict[tuple[Any, ...], Totals] = defaultdict(Totals)

    def selected(row: asyncpg.Record, ts: datetime) -> tuple[Any, ...] | None:
        for name, values in (filters or {}).items():
            value = _dimension(name, row, ts, zone)
            if name == "hour":
                value = ts.astimezone(zone).hour
            if name == "day":
                value = date.fromisoformat(value)
            if (value if value is not None else "") not in values:
                return None
        return tuple(_dimension(n, row, ts, zone) for n in group_by)

    for row in clicks:
        key = selected(row, row["clicked_at"])
        if key is None:
            continue
        totals = out[(*key, row["currency"])]
        totals.counts["clicks"] += not row["is_bot"]
        totals.counts["unique_clicks"] += row["is_unique"] and not row["is_bot"]
        totals.counts["bot_clicks"] += row["is_bot"]
        if row["diverted"] is not None and not row["is_bot"]:
            totals.counts["diverted"] += 1
            totals.counts[f"diverted_{row['diverted']}"] += 1
    for row in conversions:
        key = selected(row, row["created_at"])
        if key is None:
            continue
        totals = out[(*key, row["currency"])]
        customer = row["customer_id"] is not None
        totals.counts["new_customers"] += customer and not row["recurring"]
        if row["status"] == "approved":
            totals.counts["conversions"] += 1
            totals.revenue += row["revenue"]
            totals.payout += row["payout"]
            totals.counts["repeat_conversions"] += customer and row["recurring"]
            if customer:
                totals.customer_revenue += row["revenue"]
        else:
            totals.counts[f"{row['status']}_conversions"] += 1
    return dict(out)


def api_groups(body: dict[str, Any], group_by: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups = {}
    for row in body["rows"]:
        key = (*(row[g] for g in group_by), row["currency"])
        assert key not in groups, key
        groups[key] = {k: v for k, v in row.items() if k not in group_by and k != "currency"}
        for g in group_by:
            groups[key].pop(f"{g}_name", None)
    return groups


def day_range(first: date, last: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
