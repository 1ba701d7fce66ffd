"""The rollup registry is what the database holds: tables, keys, grains, fan-out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.db import Pool
from app.rollups import registry
from app.rollups.registry import BASE, TIERS

_TYPES = {
    "bucket": "timestamp with time zone",
    "affiliate_id": "bigint",
    "offer_id": "bigint",
    "link_id": "bigint",
    "currency": "character(3)",
    **dict.fromkeys(registry.COUNT_METRICS, "bigint"),
    **dict.fromkeys(registry.MONEY_METRICS, "numeric(20,4)"),
}

_TABLES = r"""
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname LIKE 'stats\_rollup%' AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
"""
_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_PRIMARY_KEY = """
SELECT a.attname
FROM pg_index i CROSS JOIN unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::regclass AND i.indisprimary
ORDER BY k.n
"""
# Every user trigger on a rollup table, with what it does.
_TRIGGERS = r"""
SELECT t.tgrelid::regclass::text AS source, t.tgfoid::regproc::text AS function,
       t.tgtype::int AS type, t.tgenabled::text AS tgenabled, t.tgoldtable IS NOT NULL AS has_old,
       t.tgnewtable IS NOT NULL AS has_new, t.tgargs
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relname LIKE 'stats\_rollup%'
"""
_ROW, _BEFORE, _INSERT, _DELETE, _UPDATE, _TRUNCATE = 1, 2, 4, 8, 16, 32


async def test_every_rollup_table_is_a_registered_tier(pool: Pool) -> None:
    tables = {r["relname"] for r in await pool.fetch(_TABLES)}
    assert tables == {t.table for t in TIERS}
    assert len(TIERS) == len(tables)  # each once


async def test_every_tier_has_its_registered_columns_and_key(pool: Pool) -> None:
    for tier in TIERS:
        key = ["bucket", *tier.keys, "currency"]
        columns = [
            (r["attname"], r["type"], r["attnotnull"])
            for r in await pool.fetch(_COLUMNS, tier.table)
        ]
        assert columns == [
            (name, _TYPES.get(name, "text"), True) for name in (*key, *registry.AMOUNTS)
        ], tier.table
        primary_key = [r["attname"] for r in await pool.fetch(_PRIMARY_KEY, tier.table)]
        assert primary_key == key, tier.table


async def test_every_tier_is_fed_by_the_registered_fan_out(pool: Pool) -> None:
    found = []
    for row in await pool.fetch(_TRIGGERS):
        args = [a.decode() for a in bytes(row["tgargs"]).split(b"\x00")[:-1]]
        kind = row["type"]
        # AFTER, once per statement, on INSERT or UPDATE only, and enabled.
        assert not kind & (_ROW | _BEFORE | _DELETE | _TRUNCATE), row
        assert row["tgenabled"] == "O", row
        event = {_INSERT: "INSERT", _UPDATE: "UPDATE"}[kind & (_INSERT | _UPDATE)]
        # The transition tables the function reads: new rows, and old ones on UPDATE.
        assert row["has_new"], row
        assert row["has_old"] == (event == "UPDATE"), row
        assert row["function"] == "stats_tier_fanout", row
        target, grain, keys = args
        seconds = await pool.fetchval("SELECT extract(epoch FROM $1::text::interval)::int", grain)
        found.append(
            (row["source"], event, target, seconds, tuple(k.strip() for k in keys.split(",") if k))
        )
    expected = [
        (tier.source, event, tier.table, tier.grain_s, tier.keys)
        for tier in TIERS
        if tier.source is not None
        for event in ("INSERT", "UPDATE")
    ]
    assert sorted(found) == sorted(expected)


def test_the_registry_is_consistent() -> None:
    by_table = {t.table: t for t in TIERS}
    assert by_table[BASE].source is None
    assert by_table[BASE].grain_s == registry.BUCKET_S
    assert registry.BASE_TIER is by_table[BASE]
    for tier in TIERS:
        if tier.source is None:
            continue
        # A tier re-aggregates its source: coarser (or as fine) buckets, fewer keys.
        source = by_table[tier.source]
        assert tier.grain_s % source.grain_s == 0, tier.table
        assert set(tier.keys) <= set(source.keys), tier.table
        assert set(tier.keys) < set(source.keys) or tier.grain_s > source.grain_s, tier.table
        # Key columns keep the base table's order, as the fan-out groups them.
        assert list(tier.keys) == [k for k in registry.BASE_TIER.keys if k in tier.keys]


async def test_the_python_bucket_is_the_sql_bucket(pool: Pool) -> None:
    rng = random.Random(12)
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(1999, 12, 30, tzinfo=UTC)
    moments = [
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 14, 59, 999999, tzinfo=UTC),
        datetime(2025, 11, 2, 6, 15, tzinfo=UTC),
        datetime(2025, 10, 26, 2, 59, 59, tzinfo=berlin),
        datetime(2025, 10, 26, 2, 7, tzinfo=berlin).replace(fold=1),
        datetime(2026, 3, 29, 12, 44, 30, tzinfo=ZoneInfo("Asia/Kathmandu")),
        *(
            (start + timedelta(microseconds=rng.randrange(30 * 365 * 86400 * 10**6))).astimezone(
                rng.choice([UTC, berlin, ZoneInfo("Asia/Kolkata")])
            )
            for _ in range(2000)
        ),
    ]
    for grain in (registry.BUCKET_S, 3600, 86400):
        sql = f"SELECT {registry.bucket_sql('m', grain)} FROM unnest($1::timestamptz[]) m"
        in_sql = [r[0] for r in await pool.fetch(sql, moments)]
        assert in_sql == [registry.bucket_of(m, grain) for m in moments], grain
    assert registry.bucket_sql("clicked_at") == (
        "date_bin('15 minutes', clicked_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    )


async def test_upserted_deltas_add_up_in_every_tier(pool: Pool) -> None:
    bucket = datetime(2025, 11, 2, 6, 15, tzinfo=UTC)
    sql = registry.upsert_arrays(registry.CONVERSION_METRICS)
    keys: list[list[object]] = [[bucket], [1], [2], [3], ["DE"], [""], ["iOS"], [""], ["EUR"]]
    customers = [[1], [1], [Decimal("4")]]
    await pool.execute(sql, *keys, [1], [0], [0], [Decimal("4.0000")], [Decimal("2.5")], *customers)
    back = [[-1], [-1], [Decimal("-4")]]
    await pool.execute(sql, *keys, [-1], [0], [1], [Decimal("-4")], [Decimal("-2.5")], *back)
    clicks = registry.upsert(
        (*registry.CLICK_METRICS, "diverted", "diverted_targeting_country"),
        "SELECT $1::timestamptz, 1, 2, 3, 'DE', '', 'iOS', '', 'EUR', 2, 1, 0, 1, 1",
    )
    await pool.execute(clicks, bucket)
    for tier in TIERS:
        row = await pool.fetchrow(f"SELECT {', '.join(registry.AMOUNTS)}, bucket FROM {tier.table}")
        assert row is not None, tier.table
        assert dict(row) == {
            "clicks": 2,
            "unique_clicks": 1,
            "bot_clicks": 0,
            "conversions": 0,
            "pending_conversions": 0,
            "rejected_conversions": 1,
            "revenue": Decimal("0.0000"),
            "payout": Decimal("0.0000"),
            "new_customers": 0,
            "repeat_conversions": 0,
            "customer_revenue": Decimal("0.0000"),
            **dict.fromkeys(registry.DIVERTED_METRICS, 0),
            "diverted": 1,
            "diverted_targeting_country": 1,
            "bucket": registry.bucket_of(bucket, tier.grain_s),
        }, tier.table


async def test_the_fan_out_function_is_the_registry_s(pool: Pool) -> None:
    # Made from registry.AMOUNTS by migration 0073 (0038 before): a tier column the
    # function does not sum would stay 0 in every tier but the base.
    source = await pool.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'stats_tier_fanout'")
    assert source == registry.fanout_function().split("$fanout$")[1]
    for metric in registry.AMOUNTS:
        assert f"sum({metric})" in source
