"""The sub-ID tier (migration 0064): clicks per UTC day, affiliate, sub-ID dimension (sub1
.. sub5, source), value and currency, for exact top-N sub-ID reports (app/stats/subids.py).

The click writer does not keep it: sub1 is nearly unique per click, so the tier is about a
row per click, which cost the click store a third of its throughput when the writer
upserted it per batch, 59% from a trigger (loadtests/RESULTS.md). The worker's
upkeep seals it instead, from the raw clicks of hours already past: each UTC day holds
the clicks of [day, sealed_until), counted per affiliate in `stats_subids_counted`. A day
is used for an affiliate only while the rollups (which the click writer keeps in the
same transaction as the clicks) count the same clicks over that span: a click stored
after its hour was sealed makes the day read from the raw clicks until the next upkeep
seals the day again. Retention forgets the tier's days with their partitions.

Each day also holds the network's rows, under affiliate NETWORK: every affiliate's clicks
of a value together, for the reports over all affiliates (an owner's, unfiltered).

The span (migration 0074) sums the latest SPAN_DAYS whole sealed days per value, so that a
week's top-N reads one list and probes one row per candidate there instead of one a day;
the upkeep builds it again when the UTC day turns or one of its days is sealed again.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from app.db import Connection, Executor, Pool
from app.stats.queries import CLICK_CURRENCY
from app.stats.vocabulary import SUB_DIMENSIONS

logger = logging.getLogger(__name__)

TIER = "stats_subids_daily"
# An hour is sealed this long after it ends: clicks still in the stream then are late,
# and only cost their day a raw read until the next upkeep.
LAG = timedelta(minutes=15)
DAY = timedelta(days=1)
# One sealer at a time (several workers run the upkeep).
SEAL_LOCK_ID = 0x5B1D5
# Affiliate NETWORK (no affiliate has ID 0: IDs are an identity from 1) stands for all of
# them: its rows and counts are every affiliate's together.
NETWORK = 0
# The bot-inclusive click count of an affiliate's (or the network's) rollups over [$2, $3),
# the span a seal covers; stats_rollup_links_hourly is kept by the click writer with the
# clicks.
ROLLUP_CLICKS = f"""coalesce((SELECT sum(r.clicks + r.bot_clicks) FROM stats_rollup_links_hourly r
    WHERE ({{affiliate}} = {NETWORK} OR r.affiliate_id = {{affiliate}})
      AND r.bucket >= {{start}} AND r.bucket < {{end}}), 0)"""

_VALUES = ", ".join(
    f"({i}::smallint, coalesce(k.{name}, ''))" for i, name in enumerate(SUB_DIMENSIONS)
)
# The clicks of [$2, $3) (one UTC day's, $1) added to the tier, and their count, per
# affiliate and for the network (both grouping sets of one pass); both from one snapshot
# (the sealing transaction is repeatable read).
ADD_TIER = f"""
INSERT INTO {TIER} AS t (affiliate_id, dimension, day, value_key, currency, value, clicks,
    unique_clicks, bot_clicks)
SELECT coalesce(k.affiliate_id, {NETWORK}), d.dimension, $1::date,
       sha256(convert_to(d.value, 'UTF8')),
       {CLICK_CURRENCY}, d.value,
       count(*) FILTER (WHERE NOT k.is_bot),
       count(*) FILTER (WHERE k.is_unique AND NOT k.is_bot),
       count(*) FILTER (WHERE k.is_bot)
FROM clicks k CROSS JOIN LATERAL (VALUES {_VALUES}) d (dimension, value)
WHERE k.clicked_at >= $2 AND k.clicked_at < $3
GROUP BY GROUPING SETS ((k.affiliate_id, d.dimension, d.value, 5), (d.dimension, d.value, 5))
ON CONFLICT (day, affiliate_id, dimension, value_key, currency) DO UPDATE SET
    clicks = t.clicks + EXCLUDED.clicks,
    unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
    bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks
"""
ADD_COUNTED = f"""
INSERT INTO stats_subids_counted AS c (day, affiliate_id, clicks)
SELECT $1::date, coalesce(affiliate_id, {NETWORK}), count(*) FROM clicks
WHERE clicked_at >= $2 AND clicked_at < $3 GROUP BY GROUPING SETS ((affiliate_id), ())
ON CONFLICT (day, affiliate_id) DO UPDATE SET clicks = c.clicks + EXCLUDED.clicks
"""
SET_SEAL = """
INSERT INTO stats_subids_seals (day, sealed_until) VALUES ($1, $2)
ON CONFLICT (day) DO UPDATE SET sealed_until = EXCLUDED.sealed_until
"""
# Whether an affiliate's tier count (or the network's) differs from the rollups' over the
# sealed span (true, not the affiliate's ID: the network's is 0). The network is always
# checked: a day sealed before the tier had network rows is sealed again with them.
MISMATCHED = f"""
SELECT true FROM (
    SELECT {NETWORK}::bigint AS affiliate_id
    UNION SELECT affiliate_id FROM stats_subids_counted WHERE day = $1
    UNION SELECT DISTINCT affiliate_id FROM stats_rollup_links_hourly
    WHERE bucket >= $2 AND bucket < $3
) a
WHERE coalesce((SELECT clicks FROM stats_subids_counted c
                WHERE c.day = $1 AND c.affiliate_id = a.affiliate_id), 0)
    <> {ROLLUP_CLICKS.format(affiliate="a.affiliate_id", start="$2", end="$3")}
LIMIT 1
"""
SPAN = "stats_subids_span"
# The whole days a span sums: with the day of the report's end (read from its own day's
# rows), a week.
SPAN_DAYS = 6
# Its head row goes first, as a day's seal does.
SPAN_TABLES = ("stats_subids_spans", "stats_subids_span_counted", SPAN)
# The seal goes first: a day without one is not read from the tier.
FORGET_DAY = [
    "DELETE FROM stats_subids_seals WHERE day = $1",
    "DELETE FROM stats_subids_counted WHERE day = $1",
    f"DELETE FROM {TIER} WHERE day = $1",
]
FORGET_BEFORE = [
    *(s.replace("day = $1", "day < $1") for s in FORGET_DAY),
    *(f"DELETE FROM {table} WHERE first_day < $1" for table in SPAN_TABLES),
]
# A day is read from the tier only while its partition of `clicks` (named as
# ensure_click_partitions names it) is there: retention may drop it between an upkeep's
# seal and its own cleanup of the tier.
HAS_PARTITION = "to_regclass(format('clicks_%s', to_char({day}, 'YYYYMMDD'))) IS NOT NULL"
# The UTC days that hold clicks, by the daily rollup of links.
CLICK_DAYS = f"""
SELECT day FROM (
    SELECT DISTINCT (bucket AT TIME ZONE 'UTC')::date AS day FROM stats_rollup_daily_links
    WHERE bucket < $1 AND clicks + bot_clicks > 0
) d WHERE {HAS_PARTITION.format(day="day")} ORDER BY 1 DESC
"""


# Whether span [$1, $2) holds exactly its days' counts, for every affiliate and the
# network (a day sealed again after a late click counts more).
SPAN_MISMATCHED = """
SELECT true FROM (
    SELECT affiliate_id, sum(clicks) AS clicks FROM stats_subids_counted
    WHERE day >= $1 AND day < $2 GROUP BY 1
) d FULL JOIN (
    SELECT affiliate_id, clicks FROM stats_subids_span_counted WHERE first_day = $1
) s USING (affiliate_id)
WHERE d.clicks IS DISTINCT FROM s.clicks
LIMIT 1
"""
# The days of [$1, $2) sealed whole.
WHOLE_DAYS = f"""
SELECT count(*) FROM stats_subids_seals
WHERE day >= $1 AND day < $2 AND sealed_until = (day + 1)::timestamp AT TIME ZONE 'UTC'
  AND {HAS_PARTITION.format(day="day")}
"""
BUILD_SPAN = [
    f"""INSERT INTO {SPAN} (first_day, affiliate_id, dimension, value_key, currency, value,
        clicks, unique_clicks, bot_clicks)
    SELECT $1::date, affiliate_id, dimension, value_key, currency, min(value), sum(clicks),
           sum(unique_clicks), sum(bot_clicks)
    FROM {TIER} WHERE day >= $1 AND day < $2
    GROUP BY affiliate_id, dimension, value_key, currency
    -- In the order the reader reads them (a list, most clicks first): an affiliate's
    -- top K, or all of its rows, are a few pages rather than a page a row.
    ORDER BY affiliate_id, dimension, sum(clicks) DESC""",
    """INSERT INTO stats_subids_span_counted (first_day, affiliate_id, clicks)
    SELECT $1::date, affiliate_id, sum(clicks) FROM stats_subids_counted
    WHERE day >= $1 AND day < $2 GROUP BY affiliate_id""",
    "INSERT INTO stats_subids_spans (first_day, end_day) VALUES ($1, $2)",
]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def sealable_until(day: date, now: datetime) -> datetime:
    """How far a day can be sealed at `now`: its whole hours that ended LAG ago."""
    edge = (now - LAG).replace(minute=0, second=0, microsecond=0)
    return max(day_start(day), min(day_start(day) + DAY, edge))


async def seal_day(conn: Connection, day: date, now: datetime) -> bool:
    """Bring one day's seal up to `sealable_until`; rebuild it first if a click came in
    after its hours were sealed. Whether anything was added. The caller holds
    SEAL_LOCK_ID: taken inside the transaction, the lock would come after its snapshot,
    which might miss a seal committed meanwhile and add its clicks twice."""
    until = sealable_until(day, now)
    async with conn.transaction(isolation="repeatable_read"):
        sealed = await conn.fetchval(
            "SELECT sealed_until FROM stats_subids_seals WHERE day = $1", day
        )
        start = day_start(day)
        if sealed is not None and await conn.fetchval(MISMATCHED, day, start, sealed):
            logger.info("sub-ID tier: clicks stored late on %s, sealing the day again", day)
            for statement in FORGET_DAY:
                await conn.execute(statement, day)
            sealed = None
        since = start if sealed is None else sealed
        if since >= until:
            return False
        await conn.execute(ADD_TIER, day, since, until)
        await conn.execute(ADD_COUNTED, day, since, until)
        await conn.execute(SET_SEAL, day, until)
    return True


async def roll_span(conn: Connection, now: datetime) -> bool:
    """Make the span the SPAN_DAYS whole days before the one sealing at `now`, once they
    are all sealed whole; whether it was built. The old span stays until then (readers
    use it while its days are in their range and its counts hold), and goes in the same
    transaction the new one comes in. The caller holds SEAL_LOCK_ID."""
    end = (now - LAG).date()
    first = end - timedelta(days=SPAN_DAYS)
    async with conn.transaction(isolation="repeatable_read"):
        if await conn.fetchval(WHOLE_DAYS, first, end) < SPAN_DAYS:
            return False
        current = await conn.fetchval(
            "SELECT end_day FROM stats_subids_spans WHERE first_day = $1", first
        )
        if current == end and not await conn.fetchval(SPAN_MISMATCHED, first, end):
            return False
        # One grouping of ~2M rows a day: in memory rather than spilled to disk.
        await conn.execute("SET LOCAL work_mem = '256MB'")
        for table in SPAN_TABLES:
            await conn.execute(f"DELETE FROM {table}")
        for statement in BUILD_SPAN:
            await conn.execute(statement, first, end)
    return True


async def seal(pool: Pool, now: datetime | None = None, *, days: int | None = None) -> list[date]:
    """Seal every day holding clicks up to `sealable_until`, each day in its own
    transaction, the latest first (reports read recent days most), or only the latest
    `days` of them; the days changed."""
    now = now or datetime.now(UTC)
    changed = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", SEAL_LOCK_ID)
        try:
            for row in (await conn.fetch(CLICK_DAYS, now))[:days]:
                if await seal_day(conn, row["day"], now):
                    changed.append(row["day"])
            rolled = await roll_span(conn, now)
            if changed or rolled:
                # Fresh statistics for the readers' plans (a new day is many new rows).
                await conn.execute(f"ANALYZE {TIER}, {SPAN}")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", SEAL_LOCK_ID)
    return changed


async def forget_before(conn: Executor, day: date) -> None:
    """Drop the tier's days before `day` (their click partitions are about to go), and a
    span starting before it."""
    for statement in FORGET_BEFORE:
        await conn.execute(statement, day)
