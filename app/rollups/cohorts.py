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

A coarser tier (migration 0071) sums the same at UTC months and UTC weeks (from Monday),
so that a year's report reads a few thousand rows rather than the 131k day x day ones:
for each coarse grain C (MONTH, WEEK) seven more levels, `coarse_level(C, i)`:

| i | first conversion | conversion | k1 | k2 |
|---|---|---|---|---|
| CC | C | C | first C | C |
| CD | C | UTC day | first C | day |
| DC | UTC day | C | C | first day |
| HC | hour | C | first hour | C |
| QC | quarter hour | C | first quarter | C |
| CH | C | hour | hour | first C |
| CQ | C | quarter hour | quarter | first C |

(k3, k4 ORIGIN.) Each adds up from the finer levels, which is how `coarsen` fills them.

`customer_cohort_sizes` counts customers by the bucket of their first conversion at the
three grains (counted when it is made, whatever its status later, as /stats counts
new_customers).

Writers add deltas in the conversion's own transaction (app/attribution/rollup.py), rows
in key order; `rebuild` recounts both tables from the conversions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.db import Connection
from app.rollups.registry import bucket_of, bucket_sql

DAY, HOUR, QUARTER = 86400, 3600, 900
GRAINS = (DAY, HOUR, QUARTER)
# The coarse grains: labels (greater than DAY, as readers sort pieces by grain), not widths.
WEEK, MONTH = 7 * DAY, 31 * DAY
COARSE = (MONTH, WEEK)
DD, HD, QD, DH, DQ, QQ = range(6)
CC, CD, DC, HC, QC, CH, CQ = range(7)
# The level of (first conversion's grain, conversion's grain), QQ aside.
LEVELS = {(DAY, DAY): DD, (HOUR, DAY): HD, (QUARTER, DAY): QD, (DAY, HOUR): DH, (DAY, QUARTER): DQ}
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # the unused keys
_MONDAY = datetime(2000, 1, 3, tzinfo=UTC)

Key = tuple[int, datetime, datetime, datetime, datetime, str]


def coarse_level(grain: int, i: int) -> int:
    """The level of coarse grain `grain`'s i-th kind (CC ... CQ)."""
    return 6 + 7 * COARSE.index(grain) + i


def coarse_of(moment: datetime, grain: int) -> datetime:
    """The UTC month or week (from Monday) holding `moment`, as `coarse_sql` computes it."""
    if grain == MONTH:
        utc = moment.astimezone(UTC)
        return datetime(utc.year, utc.month, 1, tzinfo=UTC)
    return _MONDAY + (moment - _MONDAY) // timedelta(days=7) * timedelta(days=7)


def coarse_end(start: datetime, grain: int) -> datetime:
    """The start of the coarse bucket after the one starting at `start`."""
    if grain == MONTH:
        return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start + timedelta(days=7)


def coarse_sql(ts: str, grain: int) -> str:
    """The SQL expression of the UTC month or week holding `ts` (a trusted expression)."""
    if grain == MONTH:
        return f"date_trunc('month', {ts}, 'UTC')"
    return f"date_bin('7 days', {ts}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"


def keys(first_at: datetime, at: datetime, currency: str) -> list[Key]:
    """The rows a conversion at `at` of a customer first converted at `first_at` adds to."""
    fd, fh, fq = (bucket_of(first_at, g) for g in GRAINS)
    d, h, q = (bucket_of(at, g) for g in GRAINS)
    o = ORIGIN
    out = [
        (DD, fd, d, o, o, currency),
        (HD, fh, d, o, o, currency),
        (QD, fq, d, o, o, currency),
        (DH, h, fd, o, o, currency),
        (DQ, q, fd, o, o, currency),
        (QQ, fd, d, fq, q, currency),
    ]
    for grain in COARSE:
        fc, c = coarse_of(first_at, grain), coarse_of(at, grain)
        level = coarse_level(grain, 0)
        out += [
            (level + CC, fc, c, o, o, currency),
            (level + CD, fc, d, o, o, currency),
            (level + DC, c, fd, o, o, currency),
            (level + HC, fh, c, o, o, currency),
            (level + QC, fq, c, o, o, currency),
            (level + CH, h, fc, o, o, currency),
            (level + CQ, q, fc, o, o, currency),
        ]
    return out


UPSERT = """
INSERT INTO customer_cohorts AS r (level, k1, k2, k3, k4, currency, conversions, revenue,
    payout)
SELECT * FROM unnest($1::smallint[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[],
    $5::timestamptz[], $6::text[], $7::bigint[], $8::numeric[], $9::numeric[])
ON CONFLICT (level, k1, k2, k3, k4, currency) DO UPDATE SET
    conversions = r.conversions + EXCLUDED.conversions,
    revenue = r.revenue + EXCLUDED.revenue,
    payout = r.payout + EXCLUDED.payout
"""
UPSERT_SIZES = """
INSERT INTO customer_cohort_sizes AS r (grain, bucket, customers)
SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::bigint[])
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
        first_at = {int(r[0]): r[1] for r in await conn.fetch(FIRST_AT, customers)}
        for (customer, at, currency), delta in cells.items():
            first = first_at.get(customer)
            if first is None:
                continue  # no first conversion: in no cohort (the report joins on it)
            for key in keys(first, at, currency):
                total = sums.setdefault(key, [0, Decimal(0), Decimal(0)])
                for i, v in enumerate(delta):
                    total[i] += v
    rows = sorted((k, v) for k, v in sums.items() if any(v))
    if rows:
        await conn.execute(UPSERT, *map(list, zip(*(k + tuple(v) for k, v in rows), strict=True)))
    sizes: dict[tuple[int, datetime], int] = {}
    for at in firsts:
        for grain in GRAINS:
            bucket = (grain, bucket_of(at, grain))
            sizes[bucket] = sizes.get(bucket, 0) + 1
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


_O = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
_LEVEL_KEYS = {
    DD: (_bucket("f.created_at", DAY), _bucket("v.created_at", DAY), _O, _O),
    HD: (_bucket("f.created_at", HOUR), _bucket("v.created_at", DAY), _O, _O),
    QD: (_bucket("f.created_at", QUARTER), _bucket("v.created_at", DAY), _O, _O),
    DH: (_bucket("v.created_at", HOUR), _bucket("f.created_at", DAY), _O, _O),
    DQ: (_bucket("v.created_at", QUARTER), _bucket("f.created_at", DAY), _O, _O),
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
# Each coarse kind from the finer level it adds up: (kind, fine level, its k1, its k2,
# the coarse key that fine k1 maps to exactly on slices aligned to the grain).
_COARSE_FROM = (
    (CC, DD, "{c1}", "{c2}", "k1"),
    (CD, DD, "{c1}", "r.k2", "k1"),
    (DC, DD, "{c2}", "r.k1", "k2"),
    (HC, HD, "r.k1", "{c2}", "k1"),
    (QC, QD, "r.k1", "{c2}", "k1"),
    (CH, DH, "r.k1", "{c2}", "k1"),
    (CQ, DQ, "r.k1", "{c2}", "k1"),
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
    for grain in COARSE:
        await _coarsen(conn, grain, *_FOREVER)


async def _coarsen(conn: Connection, grain: int, low: datetime, high: datetime) -> None:
    """Set grain's coarse rows made from the fine rows of k1 in [low, high), bounds of the
    grain's buckets (or _FOREVER): delete them and sum them again."""
    for kind in range(len(_COARSE_FROM)):
        await _coarsen_kind(conn, grain, kind, low, high)


async def _coarsen_kind(
    conn: Connection, grain: int, kind: int, low: datetime, high: datetime
) -> None:
    """`_coarsen` of one coarse kind (CC ... CQ)."""
    c1, c2 = coarse_sql("r.k1", grain), coarse_sql("r.k2", grain)
    _, fine, k1, k2, key = _COARSE_FROM[kind]
    level = coarse_level(grain, kind)
    await conn.execute(
        f"DELETE FROM customer_cohorts WHERE level = {level} AND {key} >= $1 AND {key} < $2",
        low,
        high,
    )
    await conn.execute(
        _COARSEN.format(
            level=level, fine=fine, k1=k1.format(c1=c1, c2=c2), k2=k2.format(c1=c1, c2=c2)
        ),
        low,
        high,
    )


_SPAN = "SELECT min(k1), max(k1) FROM customer_cohorts WHERE level = $1"


async def coarsen(conn: Connection, *, buckets: int = 1) -> None:
    """Recount the coarse levels from the finer ones (a no-op where they agree), each
    kind of each grain's `buckets` buckets of first conversions (k1 of the fine levels) a
    transaction holding the table's lock (seconds each on 5M conversions; writers wait
    meanwhile): a delta committed before a slice is summed in it, one after adds to its
    coarse rows itself. Outside a transaction (migration 0071, `tracker stats coarsen-cohorts`)."""
    span = [await conn.fetchrow(_SPAN, level) for level in (DD, HD, QD, DH, DQ)]
    lows = [r[0] for r in span if r is not None and r[0] is not None]
    highs = [r[1] for r in span if r is not None and r[1] is not None]
    if not lows:
        return
    for grain in COARSE:
        low = coarse_of(min(lows), grain)
        while low <= max(highs):
            high = low
            for _ in range(buckets):
                high = coarse_end(high, grain)
            for kind in range(len(_COARSE_FROM)):
                async with conn.transaction():
                    await conn.execute(_LOCK)
                    await _coarsen_kind(conn, grain, kind, low, high)
            low = high
