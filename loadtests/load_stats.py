"""Load a stats benchmark data set with COPY: clicks, conversions and their rollups.

    .venv/bin/python -m loadtests.load_stats --dsn postgresql://postgres@127.0.0.1:5432/bench

Creates the database (if missing) and migrates it, makes a catalog of affiliates, offers
and links, COPYs clicks day by day (each day's partition), then conversions, and fills
the rollups with the same grouping the worker uses (date_bin 15 minutes; the hourly and
daily tiers follow by trigger). Every size is a parameter; the defaults are the issue's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg

from app import db

COUNTRIES = [
    "US", "GB", "DE", "FR", "IN", "BR", "CA", "AU", "NL", "ES", "IT", "PL", "MX", "JP", "SE",
    "NP", "ID", "TR", "ZA", "NG", "AR", "PH", "VN", "TH", "EG", "KR", "RU", "UA", "PT", "BE",
]  # fmt: skip
AGENTS = [  # (device, os, browser), weight
    (("desktop", "Windows", "Chrome"), 30),
    (("mobile", "Android", "Chrome Mobile"), 25),
    (("mobile", "iOS", "Mobile Safari"), 20),
    (("desktop", "Mac OS X", "Safari"), 8),
    (("desktop", "Windows", "Edge"), 6),
    (("desktop", "Linux", "Firefox"), 3),
    (("tablet", "iOS", "Mobile Safari"), 3),
    (("mobile", "Android", "Samsung Internet"), 3),
    (("bot", "Other", "Googlebot"), 2),
]
SOURCES = ["fb", "google", "tiktok", "native", "email", "push", "seo", "x"]
CLICK_COLUMNS = [
    "click_id", "clicked_at", "link_id", "affiliate_id", "offer_id", "sub1", "sub2", "source",
    "country", "device", "os", "browser", "is_bot", "is_unique", "currency",
]  # fmt: skip
CONVERSION_COLUMNS = [
    "advertiser_id", "txid", "click_id", "clicked_at", "link_id", "affiliate_id", "offer_id",
    "goal", "status", "currency", "revenue", "payout", "sub1", "sub2", "source", "country",
    "device", "os", "browser", "received_at", "created_at",
]  # fmt: skip

ROLLUP_CLICKS = """
INSERT INTO stats_rollup (bucket, affiliate_id, offer_id, link_id, country, device, os,
    browser, currency, clicks, unique_clicks, bot_clicks)
SELECT date_bin('15 minutes', clicked_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       affiliate_id, offer_id, link_id, coalesce(country, ''), coalesce(device, ''),
       coalesce(os, ''), coalesce(browser, ''), currency,
       count(*) FILTER (WHERE NOT is_bot),
       count(*) FILTER (WHERE is_unique AND NOT is_bot),
       count(*) FILTER (WHERE is_bot)
FROM clicks WHERE clicked_at >= $1 AND clicked_at < $2
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
"""
ROLLUP_CONVERSIONS = """
INSERT INTO stats_rollup AS r (bucket, affiliate_id, offer_id, link_id, country, device, os,
    browser, currency, conversions, pending_conversions, rejected_conversions, revenue, payout)
SELECT date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       affiliate_id, offer_id, link_id, coalesce(country, ''), coalesce(device, ''),
       coalesce(os, ''), coalesce(browser, ''), currency,
       count(*) FILTER (WHERE status = 'approved'),
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'rejected'),
       coalesce(sum(revenue) FILTER (WHERE status = 'approved'), 0),
       coalesce(sum(payout) FILTER (WHERE status = 'approved'), 0)
FROM conversions
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
DO UPDATE SET conversions = r.conversions + EXCLUDED.conversions,
              pending_conversions = r.pending_conversions + EXCLUDED.pending_conversions,
              rejected_conversions = r.rejected_conversions + EXCLUDED.rejected_conversions,
              revenue = r.revenue + EXCLUDED.revenue,
              payout = r.payout + EXCLUDED.payout
"""


def click_uuid(ms: int) -> uuid.UUID:
    rand = int.from_bytes(os.urandom(10)) & ((1 << 74) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0x2 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


async def ensure_database(dsn: str) -> None:
    base, name = dsn.rsplit("/", 1)
    conn = await asyncpg.connect(base + "/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def make_catalog(
    conn: asyncpg.Connection, rng: random.Random, affiliates: int, offers: int
) -> list[tuple[int, int, int, str, list[str]]]:
    """Links as (link_id, affiliate_id, offer_id, currency, the offer's main countries)."""
    advertiser = await conn.fetchval(
        "INSERT INTO advertisers (name, postback_token) VALUES ('Bench', $1) RETURNING id",
        os.urandom(8).hex(),
    )
    offer_rows = []
    for i in range(offers):
        currency = "EUR" if i % 10 == 9 else "USD"  # a few offers in another currency
        offer_id = await conn.fetchval(
            "INSERT INTO offers (advertiser_id, name, url, currency, revenue_value, payout_value)"
            " VALUES ($1, $2, 'https://shop.example/?c={click_id}', $3, 4, 2.5) RETURNING id",
            advertiser,
            f"Offer {i + 1}",
            currency,
        )
        offer_rows.append((offer_id, currency, rng.sample(COUNTRIES[:12], 3)))
    links = []
    for a in range(affiliates):
        affiliate_id = await conn.fetchval(
            "INSERT INTO affiliates (name) VALUES ($1) RETURNING id", f"Affiliate {a + 1}"
        )
        for offer_id, currency, countries in rng.sample(offer_rows, 5):
            link_id = await conn.fetchval(
                "INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3) RETURNING id",
                f"b{affiliate_id}x{offer_id}",
                affiliate_id,
                offer_id,
            )
            links.append((link_id, affiliate_id, offer_id, currency, countries))
    return links


async def load(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    await ensure_database(args.dsn)
    conn = await asyncpg.connect(args.dsn)
    try:
        await db.migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM links"):
            raise SystemExit("the database already holds data; use a fresh one")
        links = await make_catalog(conn, rng, args.affiliates, args.offers)
        # Traffic is skewed, as in life: a few links and sub-IDs carry most of it.
        link_weights = [1 / (i + 1) ** 0.8 for i in range(len(links))]
        sub1_weights = [1 / (i + 1) ** 0.6 for i in range(args.sub1)]
        agent_values = [a for a, _ in AGENTS]
        agent_weights = [w for _, w in AGENTS]
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first = today - timedelta(days=args.days - 1)
        await conn.execute("SELECT ensure_click_partitions($1::date, $2)", first.date(), args.days)
        per_day = args.clicks // args.days
        conv_per_day = args.conversions // args.days
        conversions: list[tuple[object, ...]] = []
        started = time.perf_counter()
        for day in range(args.days):
            day_start = first + timedelta(days=day)
            base_ms = int(day_start.timestamp() * 1000)
            offsets = sorted(rng.randrange(86_400_000) for _ in range(per_day))
            picked = rng.choices(links, link_weights, k=per_day)
            subs = rng.choices(range(args.sub1), sub1_weights, k=per_day)
            agents = rng.choices(agent_values, agent_weights, k=per_day)
            rows = []
            for offset, link, sub, agent in zip(offsets, picked, subs, agents, strict=True):
                ms = base_ms + offset
                country = rng.choice(link[4]) if rng.random() < 0.85 else rng.choice(COUNTRIES)
                is_bot = agent[0] == "bot"
                rows.append(
                    (
                        click_uuid(ms),
                        datetime.fromtimestamp(ms / 1000, tz=UTC),
                        link[0],
                        link[1],
                        link[2],
                        f"kw{sub}",
                        f"ad{sub % 50}",
                        SOURCES[sub % len(SOURCES)],
                        country,
                        *agent,
                        is_bot,
                        not is_bot and rng.random() < 0.7,
                        link[3],
                    )
                )
            await conn.copy_records_to_table("clicks", records=rows, columns=CLICK_COLUMNS)
            end_of_data = today + timedelta(days=1)
            humans = [r for r in rows if not r[12]]
            for click in rng.sample(humans, conv_per_day):
                created = min(
                    click[1] + timedelta(seconds=rng.randrange(172_800)),
                    end_of_data - timedelta(seconds=1),
                )
                status = rng.choices(["approved", "pending", "rejected"], [70, 20, 10])[0]
                conversions.append(
                    (
                        1,
                        f"tx{len(conversions)}",
                        click[0],
                        click[1],
                        click[2],
                        click[3],
                        click[4],
                        "conversion",
                        status,
                        click[14],
                        Decimal("4.00"),
                        Decimal("2.50"),
                        *click[5:12],
                        created,
                        created,
                    )
                )
            print(
                f"day {day + 1}/{args.days}: {per_day} clicks, "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )
        await conn.copy_records_to_table(
            "conversions", records=conversions, columns=CONVERSION_COLUMNS
        )
        print(f"clicks and conversions copied: {time.perf_counter() - started:.0f}s", flush=True)
        for day in range(args.days):
            day_start = first + timedelta(days=day)
            await conn.execute(ROLLUP_CLICKS, day_start, day_start + timedelta(days=1))
        await conn.execute(ROLLUP_CONVERSIONS)
        await conn.execute("ANALYZE")
        sizes = await conn.fetch(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables"
            " WHERE relname LIKE 'stats_rollup%' OR relname = 'conversions' ORDER BY 1"
        )
        print(
            f"done in {time.perf_counter() - started:.0f}s: "
            + ", ".join(f"{r['relname']}={r['n_live_tup']}" for r in sizes),
            flush=True,
        )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench")
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--conversions", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--affiliates", type=int, default=50)
    parser.add_argument("--offers", type=int, default=20)
    parser.add_argument("--sub1", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=6)
    asyncio.run(load(parser.parse_args()))


if __name__ == "__main__":
    main()
