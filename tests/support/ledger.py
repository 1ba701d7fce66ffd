"""Helpers for ledger and payout tests: conversions written through attribution's own
effects (the hook under test), a clock moved by hand, sums recounted from raw rows."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from app.attribution import queries as attribution_queries
from app.attribution import service as attribution_service
from app.attribution import writer
from app.db import Pool


async def make_program(
    pool: Pool, *, affiliates: int, hold_days: int = 30, currency: str = "USD"
) -> dict[str, Any]:
    """An advertiser, one offer and `affiliates` affiliates, in SQL (fast enough to make
    one per Hypothesis example)."""
    advertiser = await pool.fetchval(
        "INSERT INTO advertisers (name, postback_token) VALUES ('Acme', $1) RETURNING id",
        uuid.uuid4().hex,
    )
    offer = await pool.fetchval(
        """INSERT INTO offers (advertiser_id, name, url, currency, hold_days)
           VALUES ($1, 'Shoes', 'https://shop.example/', $2, $3) RETURNING id""",
        advertiser,
        currency,
        hold_days,
    )
    ids = [
        await pool.fetchval(
            "INSERT INTO affiliates (name, email) VALUES ($1, $2) RETURNING id",
            f"Affiliate {i}",
            f"a{i}@example.com",
        )
        for i in range(affiliates)
    ]
    links = {
        a: await pool.fetchval(
            "INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3) RETURNING id",
            uuid.uuid4().hex,
            a,
            offer,
        )
        for a in ids
    }
    return {"advertiser_id": advertiser, "offer_id": offer, "affiliates": ids, "links": links}


async def add_conversion(
    pool: Pool,
    program: dict[str, Any],
    *,
    affiliate_id: int,
    payout: Decimal,
    status: str,
    at: dt.datetime,
) -> int:
    """A conversion created with `status` at `at`, its effects applied as the stream's
    writer applies them (one transaction)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO conversions (advertiser_id, txid, affiliate_id, offer_id, goal,
                   status, currency, revenue, payout, received_at, status_at, link_id)
               VALUES ($1, $2, $3, $4, 'conversion', $5, $6, $7, $7, $8, $8, $9)
               RETURNING {attribution_queries.CONVERSION_COLUMNS}""",
            program["advertiser_id"],
            uuid.uuid4().hex,
            affiliate_id,
            program["offer_id"],
            status,
            await conn.fetchval("SELECT currency FROM offers WHERE id = $1", program["offer_id"]),
            payout,
            at,
            program["links"][affiliate_id],
        )
        assert row is not None
        await writer.apply_effects(conn, [(dict(row), None, status, "test")], {})
        return int(row["id"])


async def change_status(pool: Pool, conversion_id: int, status: str, *, at: dt.datetime) -> None:
    """The conversions API's PATCH, then the clock: a new status is as of `at`."""
    before = await pool.fetchval("SELECT status FROM conversions WHERE id = $1", conversion_id)
    await attribution_service.change_status(
        pool, conversion_id=conversion_id, status=status, changed_by="test"
    )
    if before != status:
        await pool.execute("UPDATE conversions SET status_at = $2 WHERE id = $1", conversion_id, at)


async def entries(pool: Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM ledger_entries ORDER BY id")


async def double_claims(pool: Pool) -> int:
    """Entries taken by more than one payout that is not failed (must be none)."""
    count: int = await pool.fetchval(
        """SELECT count(*) FROM (
               SELECT u.entry_id FROM payouts p CROSS JOIN LATERAL unnest(p.entry_ids) u(entry_id)
               WHERE p.status <> 'failed' GROUP BY u.entry_id HAVING count(*) > 1) d"""
    )
    return count


async def totals_kept_and_counted(
    pool: Pool,
) -> tuple[dict[tuple[int, str], tuple[Decimal, int]], dict[tuple[int, str], tuple[Decimal, int]]]:
    """Each payout's totals per kind as kept (payout_totals), and as counted here from
    every raw ledger entry its claim names."""
    kept = {
        (r["payout_id"], r["kind"]): (r["amount"], r["entries"])
        for r in await pool.fetch("SELECT payout_id, kind, amount, entries FROM payout_totals")
    }
    by_id = {r["id"]: r for r in await entries(pool)}
    counted: dict[tuple[int, str], tuple[Decimal, int]] = {}
    for payout in await pool.fetch("SELECT id, amount, entry_ids FROM payouts"):
        for entry_id in payout["entry_ids"]:
            entry = by_id[entry_id]
            amount, count = counted.get((payout["id"], entry["kind"]), (Decimal(0), 0))
            counted[payout["id"], entry["kind"]] = (amount + entry["amount"], count + 1)
    return kept, counted
