"""What the rollup tables are: the metrics they sum, the width of their 15-minute buckets
and the tiers kept from them, as every writer and reader must see them.

Writers add deltas to `stats_rollup` (BASE) only; statement triggers
(`stats_tier_fanout(table, grain, keys)`, migrations/0012_baseline.sql) fan them out to
the coarser tiers in the same transaction. tests/rollups/test_registry.py checks this
module against the database, so a migration that adds or changes a tier must change
TIERS with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# The amounts every rollup row holds, in column order.
CLICK_METRICS = ("clicks", "unique_clicks", "bot_clicks")
CONVERSION_COUNTS = ("conversions", "pending_conversions", "rejected_conversions")
# Customers (migration 0038): customers whose first conversion is in the row (counted when
# it is made, whatever its status later), approved conversions after a customer's first,
# and the approved revenue of conversions that carry a customer.
CUSTOMER_COUNTS = ("new_customers", "repeat_conversions")
CUSTOMER_METRICS = (*CUSTOMER_COUNTS, "customer_revenue")
# Clicks the redirect sent to the offer's fallback instead of the offer (migration 0073):
# human clicks only, as `clicks` counts them, by `clicks.diverted`. The reasons are the
# values the redirect stores (app/redirect/cache.py, app/catalog/targeting.py, the cap
# script); `diverted` counts every diverted click, whatever its reason.
DIVERTED_REASONS = (
    "cap",
    "paused",
    "archived",
    "affiliate_inactive",
    "targeting_country",
    "targeting_device",
)
DIVERTED_METRICS = ("diverted", *(f"diverted_{reason}" for reason in DIVERTED_REASONS))
COUNT_METRICS = (*CLICK_METRICS, *CONVERSION_COUNTS, *CUSTOMER_COUNTS, *DIVERTED_METRICS)
# numeric(20, 4), in the row's currency
MONEY_METRICS = ("revenue", "payout", "customer_revenue")
METRICS = (*CLICK_METRICS, *CONVERSION_COUNTS, "revenue", "payout", *CUSTOMER_METRICS)
# Every amount a tier row holds, in column order: METRICS, then the diverted clicks (kept
# apart from METRICS, which the sub-ID tier's reads (app/stats/subids.py) also select, and
# which the sub-ID tier does not hold).
AMOUNTS = (*METRICS, *DIVERTED_METRICS)
CONVERSION_METRICS = (*CONVERSION_COUNTS, "revenue", "payout", *CUSTOMER_METRICS)

# Every UTC offset in use is a multiple of 15 minutes, so any IANA zone (Asia/Kolkata,
# Asia/Kathmandu) aggregates exactly from these buckets. The SQL expression and the
# Python function below are the one definition of a bucket; a test checks they agree.
BUCKET_S = 900
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_ORIGIN_SQL = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def interval(grain_s: int) -> str:
    """A grain as the interval literal the tier triggers are declared with."""
    for unit, seconds in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if grain_s % seconds == 0:
            count = grain_s // seconds
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{grain_s} seconds"


def bucket_sql(ts: str, grain_s: int = BUCKET_S) -> str:
    """The SQL expression of the bucket holding `ts` (a trusted column or expression)."""
    return f"date_bin('{interval(grain_s)}', {ts}, {_ORIGIN_SQL})"


def bucket_of(moment: datetime, grain_s: int = BUCKET_S) -> datetime:
    """The bucket holding `moment`, as `bucket_sql` computes it, in UTC."""
    grain = timedelta(seconds=grain_s)
    return _ORIGIN + (moment - _ORIGIN) // grain * grain


# The rollups' key columns by the stats dimension they answer for. Text keys are ''
# for "none" (NOT NULL, so that the primary key makes "none" one row).
DIMENSION_COLUMNS = {
    "affiliate": "affiliate_id",
    "offer": "offer_id",
    "link": "link_id",
    "country": "country",
    "device": "device",
    "os": "os",
    "browser": "browser",
}
_DIMENSIONS = {column: name for name, column in DIMENSION_COLUMNS.items()}
_ID_COLUMNS = frozenset({"affiliate_id", "offer_id", "link_id"})


@dataclass(frozen=True, slots=True)
class Tier:
    """A rollup table: rows of (bucket, *keys, currency, *AMOUNTS), primary key
    (bucket, *keys, currency), buckets `grain_s` wide. A tier with a `source` is kept by
    the trigger fan-out from that table; `whole` marks one small enough to answer any
    range alone, which readers prefer to a mix of tiers."""

    table: str
    grain_s: int
    keys: tuple[str, ...]
    source: str | None
    whole: bool = False
    dimensions: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dimensions", frozenset(_DIMENSIONS[k] for k in self.keys))


BASE = "stats_rollup"
_LINKS = ("affiliate_id", "offer_id", "link_id")
_COARSE = (*_LINKS, "country")
# Smallest first within a grain: a reader takes the first tier that keeps what it needs.
TIERS = (
    Tier("stats_rollup_totals", BUCKET_S, (), source="stats_rollup_links", whole=True),
    Tier("stats_rollup_daily_links", 86400, _LINKS, source="stats_rollup_links"),
    Tier("stats_rollup_daily_offer_country", 86400, ("offer_id", "country"), source=BASE),
    Tier("stats_rollup_daily", 86400, _COARSE, source=BASE),
    Tier("stats_rollup_links_hourly", 3600, _LINKS, source="stats_rollup_links"),
    Tier("stats_rollup_hourly", 3600, _COARSE, source=BASE),
    Tier("stats_rollup_links", BUCKET_S, _LINKS, source=BASE),
    Tier(BASE, BUCKET_S, (*_COARSE, "device", "os", "browser"), source=None),
)
BASE_TIER = next(t for t in TIERS if t.table == BASE)
BASE_KEY = ("bucket", *BASE_TIER.keys, "currency")


def upsert(metrics: Sequence[str], rows: str) -> str:
    """The statement adding `rows` to stats_rollup: `rows` is a SELECT of the bucket,
    BASE_TIER.keys, the currency and `metrics`, in that order; each metric is added to
    the row already there. Give the rows in key order (ORDER BY, or sorted arrays) when
    concurrent writers may touch the same rows, so that they lock them in one order."""
    names = ", ".join((*BASE_KEY, *metrics))
    added = ",\n    ".join(f"{m} = r.{m} + EXCLUDED.{m}" for m in metrics)
    return (
        f"INSERT INTO {BASE} AS r ({names})\n{rows}\n"
        f"ON CONFLICT ({', '.join(BASE_KEY)}) DO UPDATE SET\n    {added}"
    )


def upsert_arrays(metrics: Sequence[str]) -> str:
    """`upsert` of rows given as one array parameter per column ($1 the buckets, then the
    keys, the currencies and `metrics`)."""
    types = [
        "timestamptz",
        *("bigint" if k in _ID_COLUMNS else "text" for k in BASE_TIER.keys),
        "text",
        *("numeric" if m in MONEY_METRICS else "bigint" for m in metrics),
    ]
    arrays = ", ".join(f"${i}::{t}[]" for i, t in enumerate(types, 1))
    return upsert(metrics, f"SELECT * FROM unnest({arrays})")


def fanout_function(metrics: Sequence[str] = AMOUNTS) -> str:
    """CREATE OR REPLACE of `stats_tier_fanout`, the trigger function of every tier, summing
    `metrics` (the columns every tier holds, in order). TG_ARGV: target table, bucket width,
    key columns between bucket and currency ('' for none), fixed by the triggers, never by
    input. Rows are upserted in key order, so two writers that touch the same rows (every
    batch touches its quarter hour's network total) take their locks in the same order."""
    amounts = ", ".join(metrics)
    negated = ", ".join(f"-{m}" for m in metrics)
    sums = ", ".join(f"sum({m})" for m in metrics)
    added = ", ".join(f"{m} = t.{m} + EXCLUDED.{m}" for m in metrics)
    return f"""CREATE OR REPLACE FUNCTION stats_tier_fanout() RETURNS trigger
LANGUAGE plpgsql AS $fanout$
DECLARE
    keys text := CASE WHEN TG_ARGV[2] = '' THEN '' ELSE TG_ARGV[2] || ', ' END;
    source text := format('SELECT bucket, %scurrency, {amounts} FROM new_rows', keys);
    conflict text := format('bucket, %scurrency', keys);
BEGIN
    -- INSERT ... ON CONFLICT fires both triggers, often one with no rows: skip planning.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- The transition table old_rows exists only for an UPDATE, which moves (new - old).
    IF TG_OP = 'UPDATE' THEN
        source := source || format(
            ' UNION ALL SELECT bucket, %scurrency, {negated} FROM old_rows', keys);
    END IF;
    EXECUTE format(
        'INSERT INTO %I AS t (bucket, %scurrency, {amounts}) '
        'SELECT date_bin(%L::interval, bucket, TIMESTAMPTZ ''2000-01-01 00:00:00+00''), '
        '%scurrency, {sums} '
        'FROM (%s) d GROUP BY 1, %scurrency ORDER BY 1, %scurrency '
        'ON CONFLICT (%s) DO UPDATE SET {added}',
        TG_ARGV[0], keys, TG_ARGV[1], keys, source, keys, keys, conflict);
    RETURN NULL;
END $fanout$"""
