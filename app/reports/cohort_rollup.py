"""Cohorts read from the cohort rollup (app/rollups/cohorts.py) in any zone: the money and
conversion counts of every customer, ungrouped and unfiltered (an admin's report).

Each axis (the customers' first conversions, their conversions) is cut into pieces that
lie inside one period: whole UTC days, and for a UTC day that holds a period's edge, its
hours and quarter hours. An edge day with one edge is read as the whole day, counted in
the period of its start, plus the pieces of its shorter side counted in the next period
and taken back from the first (`sign`), so that few pieces are read. A cell is the sum,
over pairs of pieces, of the rollup's rows for that pair times the product of the signs:
day x day rows (DD), piece x day (HD, QD), day x piece (DH, DQ) and, for two edge days,
quarter x quarter (QQ).

Then a coarse piece (`rollup.PIECE`: a UTC week cut at UTC month starts, so that a UTC
month is four to six of them and a UTC week one or two) all of whose days count whole in
one period is read as one piece (`coalesce`): piece x piece rows (PP), piece x day (PD,
DP), hour or quarter x piece (HP, QP, PH, PQ), so that a year's report, monthly or weekly,
reads a few thousand rows, not the 131k of day x day; the days left over (the range's
ends) are read against each other by their lists. Both axes are cut by the same range, so
into the same pieces."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.reports.cohort_axes import Axis, coarse_axis, edge_spans, quarters
from app.rollups import cohorts as rollup
from app.rollups.registry import bucket_of

_DAY = timedelta(days=1)
_MAP = "unnest({}::int[], {}::timestamptz[], {}::int[], {}::int[]) AS {}(grain, at, period, sign)"
_VALUES = {
    "revenue": "r.revenue",
    "payout": "r.payout",
    "conversions": "r.conversions",
}


def day_periods(a: Axis, low: datetime, end: datetime) -> list[int]:
    """The period of each UTC day's whole-day piece from `low` until `end`, 0 for a day
    without one (outside the range, inside a coarse piece, or cut by several edges): an
    axis holds at most one whole-day piece per day, always of sign 1, so a row's day is
    looked up by its index rather than joined (a join of both axes' days is a nested loop
    of 365 x 365 probes)."""
    out = [0] * ((end - low + _DAY - timedelta(microseconds=1)) // _DAY)
    for grain, start, p, s in zip(a.grains, a.starts, a.periods, a.signs, strict=True):
        if grain == rollup.DAY:
            assert s == 1
            out[(start - low) // _DAY] = p
    return out


def _day(key: str) -> str:
    """The period of the whole-day piece of `key`'s UTC day (0: none), by $21 from $19."""
    return f"($21::int[])[extract(epoch FROM {key} - $19::timestamptz)::int / 86400 + 1]"


def _spread(inner: str) -> str:
    """Rows of `inner` (pos, neg, other, currency, conversions, value) summed by the pair of
    periods a piece adds to and takes from (all the moved pieces of an edge day share it),
    then counted in the one and taken back from the other."""
    return f"""SELECT m.p, a.other, a.currency, sum(a.conversions * m.sign) AS conversions,
       sum(a.value * m.sign) AS value
FROM ({inner}) a
CROSS JOIN LATERAL (VALUES (a.pos, 1), (a.neg, -1)) AS m(p, sign)
WHERE m.p IS NOT NULL GROUP BY 1, 2, 3"""


def _coarse(key: str) -> str:
    """The period of the coarse piece starting at `key` (NULL or 0: none), by $24 from the
    number $23 (`coarse_number` of the first): its UTC day's number."""
    return f"($24::int[])[(extract(epoch FROM {key})::bigint / 86400)::int - $23::int + 1]"


def coarse_number(start: datetime) -> int:
    """A coarse piece's number, as `_coarse` computes it in SQL: its UTC day's since 1970."""
    return int(start.timestamp()) // 86400


def coarse_periods(a: Axis) -> tuple[int, list[int]]:
    """The number of the axis's first coarse piece and each number's period from it on (0
    for a day that starts no coarse piece of the axis)."""
    numbers = {
        coarse_number(at): p
        for g, at, p in zip(a.grains, a.starts, a.periods, strict=True)
        if g == rollup.PIECE
    }
    if not numbers:
        return 0, []
    base = min(numbers)
    return base, [numbers.get(base + k, 0) for k in range(max(numbers) - base + 1)]


def _pieces_of(
    piece: str, levels: dict[int, int], other_key: str, amount: str, *, days: bool
) -> str:
    """The rollup's rows of the distinct pieces of `piece` of the grains in `levels` (grain
    -> level), their k1, summed by the periods the piece adds to (pos) and takes from (neg:
    a moved piece; an axis has a piece at most once each way) and `other_key` (the other
    axis's period of k2); `days`:
    only those of k2 in the runs of whole days ($22, $30), a range scan per piece and run
    (a lateral subquery kept so by OFFSET 0: a hash join on k2 reads every day of the
    piece; a probe per day is a loop of thousands)."""
    case = " ".join(f"WHEN {g} THEN {level}" for g, level in levels.items())
    grains = ", ".join(str(g) for g in levels)
    each_day = (
        "\nCROSS JOIN unnest($22::timestamptz[], $30::timestamptz[]) AS d(lo, hi)" if days else ""
    )
    k2 = " AND r.k2 >= d.lo AND r.k2 < d.hi" if days else ""
    return f"""SELECT p.pos, p.neg, {other_key} AS other, r.currency,
       sum(r.conversions) AS conversions, sum(r.value) AS value
FROM (SELECT grain, at, max(period) FILTER (WHERE sign > 0) AS pos,
             max(period) FILTER (WHERE sign < 0) AS neg
      FROM {piece} WHERE grain IN ({grains}) GROUP BY 1, 2) p{each_day}
CROSS JOIN LATERAL (
SELECT r.k2, r.currency, r.conversions, {amount} AS value FROM customer_cohorts r
WHERE r.level = CASE p.grain {case} END AND r.k1 = p.at{k2} OFFSET 0) r
GROUP BY 1, 2, 3, 4"""


def _pairs(
    piece: str,
    levels: dict[int, int],
    coarse: dict[int, int],
    amount: str,
    *,
    first: bool,
    runs: int | None = None,
) -> str:
    """Cells (first period, conversion period, currency, conversions, value, 1) of the
    pieces of `piece`'s grains in `levels` by the other axis's whole days (k2 one of the
    runs $22, $30), of those in `coarse` by its coarse pieces, and with `runs` (a level of
    coarse pieces by coarse pieces) of the runs of coarse pieces $32-$34 by its coarse
    pieces."""
    parts = [
        _pieces_of(piece, levels, _day("r.k2"), amount, days=True),
        _pieces_of(piece, coarse, _coarse("r.k2"), amount, days=False),
    ]
    if runs is not None:
        parts.append(_runs_of(runs, _coarse("r.k2"), amount))
    periods = "d.p, d.other" if first else "d.other, d.p"
    spread = "\nUNION ALL\n".join(_spread(part) for part in parts)
    return f"""SELECT {periods}, d.currency, d.conversions, d.value, 1 FROM (
{spread}
) d WHERE d.other > 0"""


def _runs_of(level: int, other_key: str, amount: str) -> str:
    """The rows of `level` whose k1 lies in one of the runs of consecutive coarse pieces
    of one period ($32 starts, $33 ends, $34 periods), summed by that period and
    `other_key`: a range scan per run (a month of four to six pieces, a week cut at a
    month start of two) rather than a probe per piece."""
    return f"""SELECT c.period AS pos, NULL::int AS neg, {other_key} AS other, r.currency,
       sum(r.conversions) AS conversions, sum(r.value) AS value
FROM unnest($32::timestamptz[], $33::timestamptz[], $34::int[]) AS c(lo, hi, period)
CROSS JOIN LATERAL (
SELECT r.k2, r.currency, r.conversions, {amount} AS value FROM customer_cohorts r
WHERE r.level = {level} AND r.k1 >= c.lo AND r.k1 < c.hi OFFSET 0) r
GROUP BY 1, 2, 3, 4"""


def coarse_runs(a: Axis) -> tuple[list[datetime], list[datetime], list[int]]:
    """The axis's coarse pieces as runs of consecutive pieces counted in one period: their
    starts, ends and periods."""
    lows: list[datetime] = []
    highs: list[datetime] = []
    periods: list[int] = []
    pieces = sorted(
        (at, p) for g, at, p in zip(a.grains, a.starts, a.periods, strict=True) if g == rollup.PIECE
    )
    for at, p in pieces:
        if highs and highs[-1] == at and periods[-1] == p:
            highs[-1] = rollup.piece_end(at)
        else:
            lows.append(at)
            highs.append(rollup.piece_end(at))
            periods.append(p)
    return lows, highs, periods


def sql(bounds: list[datetime], metric: str) -> tuple[str, list[Any]]:
    """Rows (cohort, g, size, age, currency, value) as app/reports/queries.py:cohorts gives
    them for an admin's report without groups or filters."""
    first, days = coarse_axis(bounds)
    then = first
    fq, vq = quarters(first), quarters(then)
    args: list[Any] = [*first.arrays(), *then.arrays(), *fq.arrays(), *vq.arrays()]
    spans = edge_spans(fq)
    args += spans[:2]
    f, v, fqm, vqm, sm = (
        _MAP.format(*(f"${i + j}" for j in range(1, 5)), name)
        for i, name in ((0, "f"), (4, "v"), (8, "fq"), (12, "vq"), (24, "s"))
    )
    money = metric in ("revenue", "payout")
    currency = "x.currency" if money else "NULL::text"
    value = "sum(x.value * x.sign)" if money else "sum(x.value * x.sign)::bigint"
    amount = _VALUES[metric]
    low = bucket_of(bounds[0], rollup.DAY)
    periods = day_periods(first, low, bounds[-1])
    H, Q, P = rollup.HOUR, rollup.QUARTER, rollup.PIECE
    # The first axis's pieces by the other's days and coarse pieces, coarse ones included;
    # the conversions' sub-day pieces by the first axis's days and coarse pieces.
    first_pairs = _pairs(
        "f",
        {H: rollup.HD, Q: rollup.QD, P: rollup.PD},
        {H: rollup.HP, Q: rollup.QP},
        amount,
        first=True,
        runs=rollup.PP,
    )
    then_pairs = _pairs(
        "v",
        {H: rollup.DH, Q: rollup.DQ, P: rollup.DP},
        {H: rollup.PH, Q: rollup.PQ},
        amount,
        first=False,
    )
    text = f"""WITH f AS MATERIALIZED (SELECT * FROM {f}),
v AS MATERIALIZED (SELECT * FROM {v}),
cells AS (
SELECT d.cohort, d.at, d.currency, sum(d.conversions) AS conversions, sum(d.value) AS value,
       1 AS sign FROM (
SELECT {_day("r.k1")} AS cohort, {_day("r.k2")} AS at, r.currency, r.conversions, r.value
FROM unnest($31::timestamptz[]) AS w(day)
CROSS JOIN unnest($22::timestamptz[], $30::timestamptz[]) AS n(lo, hi)
CROSS JOIN LATERAL (
SELECT r.k1, r.k2, r.currency, r.conversions, {amount} AS value FROM customer_cohorts r
WHERE r.level = {rollup.DD} AND r.k1 = w.day AND r.k2 >= n.lo AND r.k2 < n.hi
  AND r.k2 < $20::timestamptz OFFSET 0) r
) d WHERE d.cohort > 0 AND d.at > 0 GROUP BY 1, 2, 3
UNION ALL
{first_pairs}
UNION ALL
{then_pairs}
UNION ALL
SELECT fq.period, vq.period, r.currency, sum(r.conversions * fq.sign * vq.sign),
       sum(r.value * fq.sign * vq.sign), 1
FROM unnest($17::timestamptz[], $18::timestamptz[], $29::timestamptz[]) AS fe(day, lo, hi)
JOIN unnest($17::timestamptz[], $18::timestamptz[], $29::timestamptz[]) AS ve(day, lo, hi)
  ON ve.day >= fe.day
CROSS JOIN LATERAL (
SELECT r.k3, r.k4, r.currency, r.conversions, {amount} AS value FROM customer_cohorts r
WHERE r.level = {rollup.QQ} AND r.k1 = fe.day AND r.k2 = ve.day
  AND r.k3 >= fe.lo AND r.k3 < fe.hi AND r.k4 >= ve.lo AND r.k4 < ve.hi OFFSET 0) r
JOIN {fqm} ON fq.at = r.k3
JOIN {vqm} ON vq.at = r.k4
GROUP BY 1, 2, 3
), grouped AS (
SELECT x.cohort, x.at - x.cohort AS age, {currency} AS currency, {value} AS value
FROM cells x GROUP BY 1, 2, 3 HAVING sum(x.conversions * x.sign) <> 0
), sizes AS (
SELECT s.period AS cohort, sum(z.customers * s.sign)::bigint AS size
FROM {sm} CROSS JOIN LATERAL (SELECT z.customers FROM customer_cohort_sizes z
    WHERE z.grain = s.grain AND z.bucket = s.at OFFSET 0) z
GROUP BY 1 HAVING sum(z.customers * s.sign) <> 0
)
SELECT s.cohort, NULL::text AS g, s.size, c.age, c.currency, c.value
FROM sizes s LEFT JOIN grouped c ON c.cohort = s.cohort
ORDER BY s.cohort, c.currency NULLS FIRST, c.age"""
    base, coarse = coarse_periods(first)
    lows, highs = first.runs()
    more = [low, bounds[-1], periods, lows, base, coarse, *days.arrays(), spans[2], highs]
    more.append(first.days())
    more += coarse_runs(first)
    return text, [*args, *more]
