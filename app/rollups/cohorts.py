"""The cohort rollup (migration 0062): customers' approved conversions summed by the UTC
time of the customer's first conversion and of the conversion, and cohort sizes, as the
cohort report (app/reports/cohort_rollup.py) reads them in any zone.

`customer_cohorts` holds, per currency, the conversions, revenue and payout of approved
conversions that carry a customer, at six levels (the `level` column), each keyed so
that the report's reads are range scans of the primary key (level, k1, k2, k3, k4,
currency); keys not used by a level hold ORIGIN:

| level | first conversion | conversion | k1 | k2 | k3 | k4 |
|---|---|---|---|---|---|---|
| DD | UTC day | UTC day | first day | day | - | - |
| HD | hour | UTC day | first hour | day | - | - |
| QD | quarter hour | UTC day | first quarter | day | - | - |
| DH | UTC day | hour | hour | first day | - | - |
| DQ | UTC day | quarter hour | quarter | first day | - | - |
| QQ | quarter hour | quarter hour | first day | day | first quarter | quarter |

A local period's edges fall on quarter hours (every offset in use is a multiple of 15
minutes), so any zone's cells add up from whole UTC days plus the hours and quarters of
the few UTC days that hold an edge.

A coarser tier (migration 0072) sums the same at one coarse grain, the piece: the UTC
weeks (from Monday) cut at UTC month starts, so that every UTC month and every UTC week is
a union of whole pieces (a week of one or two, a month of four to six) and a year's
monthly or weekly report reads a few thousand rows rather than the 131k day x day ones.
Seven more levels, P for the piece:

| level | first conversion | conversion | k1 | k2 |
|---|---|---|---|---|
| PP | piece | piece | first piece | piece |
| PD | piece | UTC day | first piece | day |
| DP | UTC day | piece | piece | first day |
| HP | hour | piece | first hour | piece |
| QP | quarter hour | piece | first quarter | piece |
| PH | piece | hour | hour | first piece |
| PQ | piece | quarter hour | quarter | first piece |

(k3, k4 ORIGIN.) Each adds up from the finer levels, which is how `coarsen` fills them.
(Migration 0071's fourteen levels of UTC months and of UTC weeks, 6 to 19, are gone: one
grain serves both periods with 13 rows per conversion rather than 20.)

`customer_cohort_sizes` counts customers by the bucket of their first conversion at the
three grains (counted when it is made, whatever its status later, as /stats counts
new_customers).

Writers add deltas in the conversion's own transaction (app/attribution/rollup.py), rows
in key order; `rebuild` recounts both tables from the conversions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from app.db import Connection
from app.rollups.registry import bucket_sql

DAY, HOUR, QUARTER = 86400, 3600, 900
GRAINS = (DAY, HOUR, QUARTER)
# The coarse grain: a label (greater than DAY, as readers sort pieces by grain), not a width.
PIECE = 7 * DAY
DD, HD, QD, DH, DQ, QQ = range(6)
PP, PD, DP, HP, QP, PH, PQ = range(20, 27)
COARSE_LEVELS = (PP, PD, DP, HP, QP, PH, PQ)
# Migration 0071's levels of UTC months and UTC weeks, which `coarsen` removes.
MONTH_AND_WEEK_LEVELS = range(6, 20)
# The level of (first conversion's grain, conversion's grain), QQ aside.
LEVELS = {(DAY, DAY): DD, (HOUR, DAY): HD, (QUARTER, DAY): QD, (DAY, HOUR): DH, (DAY, QUARTER): DQ}
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # the unused keys
_MONDAY = datetime(2000, 1, 3, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WEEK = timedelta(days=7)

Key = tuple[int, int, int, int, int, str]
Buckets = tuple[int, int, int, int]  # UTC day, hour, quarter, piece (seconds since 1970)


def piece_of(moment: datetime) -> datetime:
    """The piece holding `moment`: the later of its UTC month's and its UTC week's starts,
    as `piece_sql` computes it."""
    utc = moment.astimezone(UTC)
    month = datetime(utc.year, utc.month, 1, tzinfo=UTC)
    return max(month, _MONDAY + (moment - _MONDAY) // _WEEK * _WEEK)


def piece_end(start: datetime) -> datetime:
    """The start of the piece after the one holding `start`: the earlier of the next UTC
    week's and the next UTC month's starts."""
    utc = start.astimezone(UTC)
    month = datetime(utc.year + utc.month // 12, utc.month % 12 + 1, 1, tzinfo=UTC)
    return min(month, _MONDAY + ((start - _MONDAY) // _WEEK + 1) * _WEEK)


def piece_sql(ts: str) -> str:
    """The SQL expression of the piece holding `ts` (a trusted expression)."""
    return (
        f"greatest(date_trunc('month', {ts}, 'UTC'),"
        f" date_bin('7 days', {ts}, TIMESTAMPTZ '2000-01-03 00:00:00+00'))"
    )


def _seconds(moment: datetime) -> int:
    """`moment` in whole seconds since 1970-01-01 UTC."""
    since = moment - _EPOCH
    return since.days * DAY + since.seconds


@lru_cache(maxsize=4096)
def _piece_seconds(day: int) -> int:
    """The start of the piece holding the UTC day starting at `day` (seconds since 1970)."""
    return _seconds(piece_of(_EPOCH + timedelta(seconds=day)))


def _buckets(moment: datetime) -> Buckets:
    """The UTC day, hour, quarter hour and piece holding `moment`, in seconds since 1970
    (the rollup's buckets from 2000-01-01 are the same: a whole number of days later)."""
    s = _seconds(moment)
    day = s - s % DAY
    return day, s - s % HOUR, s - s % QUARTER, _piece_seconds(day)


_ORIGIN_S = 946684800  # ORIGIN in seconds since 1970


def keys(first: Buckets, at: Buckets, currency: str) -> list[Key]:
    """The rows (keys in seconds since 1970) a conversion in buckets `at` (`_buckets`) of a
    customer whose first conversion is in buckets `first` adds to."""
    fd, fh, fq, fp = first
    d, h, q, p = at
    o = _ORIGIN_S
    return [
        (DD, fd, d, o, o, currency),
        (HD, fh, d, o, o, currency),
        (QD, fq, d, o, o, currency),
        (DH, h, fd, o, o, currency),
        (DQ, q, fd, o, o, currency),
        (QQ, fd, d, fq, q, currency),
        (PP, fp, p, o, o, currency),
        (PD, fp, d, o, o, currency),
        (DP, p, fd, o, o, currency),
        (HP, fh, p, o, o, currency),
        (QP, fq, p, o, o, currency),
        (PH, h, fp, o, o, currency),
        (PQ, q, fp, o, o, currency),
    ]


# Keys come as seconds since 1970 (cheaper to make, sort and send than datetimes).
UPSERT = """
INSERT INTO customer_cohorts AS r (level, k1, k2, k3, k4, currency, conversions, revenue,
    payout)
SELECT u.level, to_timestamp(u.k1), to_timestamp(u.k2), to_timestamp(u.k3), to_timestamp(u.k4),
       u.currency, u.conversions, u.revenue, u.payout
FROM unnest($1::smallint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[],
    $7::bigint[], $8::numeric[], $9::numeric[])
    AS u(level, k1, k2, k3, k4, currency, conversions, revenue, payout)
ON CONFLICT (level, k1, k2, k3, k4, currency) DO UPDATE SET
    conversions = r.conversions + EXCLUDED.conversions,
    revenue = r.revenue + EXCLUDED.revenue,
    payout = r.payout + EXCLUDED.payout
"""
UPSERT_SIZES = """
INSERT INTO customer_cohort_sizes AS r (grain, bucket, customers)
SELECT u.grain, to_timestamp(u.bucket), u.customers
FROM unnest($1::int[], $2::bigint[], $3::bigint[]) AS u(grain, bucket, customers)
ON CONFLICT (grain, bucket) DO UPDATE SET customers = r.customers + EXCLUDED.customers
"""
# When each customer of these first converted: its conversion that is not recurring (the
# one the report takes as its first), already stored in this transaction.
FIRST_AT = """
SELECT customer_id, min(created_at) AS first_at FROM conversions
WHERE customer_id = ANY($1::bigint[]) AND NOT recurring GROUP BY customer_id
"""


async def write(
    conn: Connection,
    cells: dict[tuple[int, datetime, str], list[Any]],
    firsts: Iterable[datetime],
) -> None:
    """Add the deltas of a batch: `cells` (customer, conversion's created_at, currency) ->
    [conversions, revenue, payout], `firsts` the created_at of first conversions made."""
    cells = {k: v for k, v in cells.items() if any(v)}
    sums: dict[Key, list[Any]] = {}
    if cells:
        customers = sorted({k[0] for k in cells})
        first_at = {int(r[0]): _buckets(r[1]) for r in await conn.fetch(FIRST_AT, customers)}
        for (customer, at, currency), (conversions, revenue, payout) in cells.items():
            first = first_at.get(customer)
            if first is None:
                continue  # no first conversion: in no cohort (the report joins on it)
            for key in keys(first, _buckets(at), currency):
                total = sums.get(key)
                if total is None:
                    sums[key] = [conversions, revenue, payout]
                else:
                    total[0] += conversions
                    total[1] += revenue
                    total[2] += payout
    rows = sorted((k, v) for k, v in sums.items() if any(v))
    if rows:
        await conn.execute(UPSERT, *map(list, zip(*(k + tuple(v) for k, v in rows), strict=True)))
    sizes: dict[tuple[int, int], int] = {}
    for at in firsts:
        for grain, bucket in zip(GRAINS, _buckets(at), strict=False):
            sizes[grain, bucket] = sizes.get((grain, bucket), 0) + 1
    if sizes:
        ordered = sorted(sizes.items())
        await conn.execute(
            UPSERT_SIZES,
            [k[0] for k, _ in ordered],
            [k[1] for k, _ in ordered],
            [v for _, v in ordered],
        )


def _bucket(ts: str, grain: int) -> str:
    return bucket_sql(ts, grain)


_ORIGIN_SQL = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_LEVEL_KEYS = {
    DD: (_bucket("f.created_at", DAY), _bucket("v.created_at", DAY), _ORIGIN_SQL, _ORIGIN_SQL),
    HD: (_bucket("f.created_at", HOUR), _bucket("v.created_at", DAY), _ORIGIN_SQL, _ORIGIN_SQL),
    QD: (_bucket("f.created_at", QUARTER), _bucket("v.created_at", DAY), _ORIGIN_SQL, _ORIGIN_SQL),
    DH: (_bucket("v.created_at", HOUR), _bucket("f.created_at", DAY), _ORIGIN_SQL, _ORIGIN_SQL),
    DQ: (_bucket("v.created_at", QUARTER), _bucket("f.created_at", DAY), _ORIGIN_SQL, _ORIGIN_SQL),
    QQ: (
        _bucket("f.created_at", DAY),
        _bucket("v.created_at", DAY),
        _bucket("f.created_at", QUARTER),
        _bucket("v.created_at", QUARTER),
    ),
}
_REBUILD_CELLS = """
INSERT INTO customer_cohorts (level, k1, k2, k3, k4, currency, conversions, revenue, payout)
SELECT {level}, {k1}, {k2}, {k3}, {k4}, v.currency, count(*), sum(v.revenue), sum(v.payout)
FROM conversions f JOIN conversions v ON v.customer_id = f.customer_id
WHERE f.customer_id IS NOT NULL AND NOT f.recurring
  AND v.customer_id IS NOT NULL AND v.status = 'approved'
GROUP BY 1, 2, 3, 4, 5, 6"""
_REBUILD_SIZES = """
INSERT INTO customer_cohort_sizes (grain, bucket, customers)
SELECT {grain}, {bucket}, count(*) FROM conversions f
WHERE f.customer_id IS NOT NULL AND NOT f.recurring GROUP BY 2"""
# Each coarse level from the finer level it adds up: (level, fine level, its k1, its k2,
# the coarse level's key that the fine k1 maps to exactly on slices aligned to pieces).
_COARSE_FROM = (
    (PP, DD, "{p1}", "{p2}", "k1"),
    (PD, DD, "{p1}", "r.k2", "k1"),
    (DP, DD, "{p2}", "r.k1", "k2"),
    (HP, HD, "r.k1", "{p2}", "k1"),
    (QP, QD, "r.k1", "{p2}", "k1"),
    (PH, DH, "r.k1", "{p2}", "k1"),
    (PQ, DQ, "r.k1", "{p2}", "k1"),
)
_COARSEN = """
INSERT INTO customer_cohorts (level, k1, k2, k3, k4, currency, conversions, revenue, payout)
SELECT {level}, {k1}, {k2}, r.k3, r.k4, r.currency, sum(r.conversions), sum(r.revenue),
       sum(r.payout)
FROM customer_cohorts r WHERE r.level = {fine} AND r.k1 >= $1 AND r.k1 < $2
GROUP BY 2, 3, 4, 5, 6"""
_FOREVER = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
# Writers add to the rows under SHARE ROW EXCLUSIVE's conflict: none goes on meanwhile.
_LOCK = "LOCK TABLE customer_cohorts, customer_cohort_sizes IN SHARE ROW EXCLUSIVE MODE"


async def rebuild(conn: Connection) -> None:
    """Recount both tables from the conversions, in the caller's transaction (writers of
    conversions wait on the lock, so none is counted twice or lost)."""
    await conn.execute(_LOCK)
    await conn.execute("DELETE FROM customer_cohorts")
    await conn.execute("DELETE FROM customer_cohort_sizes")
    for level, (k1, k2, k3, k4) in _LEVEL_KEYS.items():
        await conn.execute(_REBUILD_CELLS.format(level=level, k1=k1, k2=k2, k3=k3, k4=k4))
    for grain in GRAINS:
        await conn.execute(
            _REBUILD_SIZES.format(grain=grain, bucket=_bucket("f.created_at", grain))
        )
    for kind in range(len(_COARSE_FROM)):
        await _coarsen_kind(conn, kind, *_FOREVER)


async def _coarsen_kind(conn: Connection, kind: int, low: datetime, high: datetime) -> None:
    """Set the rows of one coarse level (PP ... PQ) made from the fine rows of k1 in [low,
    high), piece starts (or _FOREVER): delete them and sum them again."""
    p1, p2 = piece_sql("r.k1"), piece_sql("r.k2")
    level, fine, k1, k2, key = _COARSE_FROM[kind]
    await conn.execute(
        f"DELETE FROM customer_cohorts WHERE level = {level} AND {key} >= $1 AND {key} < $2",
        low,
        high,
    )
    await conn.execute(
        _COARSEN.format(
            level=level, fine=fine, k1=k1.format(p1=p1, p2=p2), k2=k2.format(p1=p1, p2=p2)
        ),
        low,
        high,
    )


_SPAN = "SELECT min(k1), max(k1) FROM customer_cohorts WHERE level = $1"


async def coarsen(conn: Connection, *, buckets: int = 1) -> None:
    """Recount the coarse levels from the finer ones (a no-op where they agree), each
    level's `buckets` pieces of k1 of the fine level a transaction holding the table's lock
    (a fraction of a second each on 5M conversions; writers wait meanwhile): a delta
    committed before a slice is summed in it, one after adds to its coarse rows itself.
    First drops migration 0071's months and weeks, a level a statement (no writer adds to
    them any more). Outside a transaction (migration 0072, `tracker stats
    coarsen-cohorts`)."""
    for level in MONTH_AND_WEEK_LEVELS:
        await conn.execute("DELETE FROM customer_cohorts WHERE level = $1", level)
    span = [await conn.fetchrow(_SPAN, level) for level in (DD, HD, QD, DH, DQ)]
    lows = [r[0] for r in span if r is not None and r[0] is not None]
    highs = [r[1] for r in span if r is not None and r[1] is not None]
    if not lows:
        return
    low = piece_of(min(lows))
    while low <= max(highs):
        high = low
        for _ in range(buckets):
            high = piece_end(high)
        for kind in range(len(_COARSE_FROM)):
            async with conn.transaction():
                await conn.execute(_LOCK)
                await _coarsen_kind(conn, kind, low, high)
        low = high
