"""Cohorts read from the cohort rollup (app/rollups/cohorts.py) in any zone: the money and
conversion counts of every customer, ungrouped and unfiltered (an admin's report).

Each axis (the customers' first conversions, their conversions) is cut into pieces that
lie inside one period: whole UTC days, and for a UTC day that holds a period's edge, its
hours and quarter hours. An edge day with one edge is read as the whole day, counted in
the period of its start, plus the pieces of its shorter side counted in the next period
and taken back from the first (`sign`), so that few pieces are read. A cell is the sum,
over pairs of pieces, of the rollup's rows for that pair times the product of the signs:
day x day rows (DD), piece x day (HD, QD), day x piece (DH, DQ) and, for two edge days,
quarter x quarter (QQ)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.rollups import cohorts as rollup
from app.rollups.registry import bucket_of

_DAY, _HOUR, _QUARTER = (timedelta(seconds=g) for g in rollup.GRAINS)
# Rows a piece is read as, roughly: an hour holds about twice a quarter's.
_COST = {rollup.HOUR: 2, rollup.QUARTER: 1}


class NotAligned(Exception):
    """A period edge off the quarter hours (a zone's offset before 1900): raw rows only."""


@dataclass(slots=True)
class Axis:
    """One axis's pieces: grain, start, 1-based period and sign, as SQL arrays."""

    grains: list[int] = field(default_factory=list)
    starts: list[datetime] = field(default_factory=list)
    periods: list[int] = field(default_factory=list)
    signs: list[int] = field(default_factory=list)
    edge_days: list[datetime] = field(default_factory=list)

    def add(self, grain: int, start: datetime, period: int, sign: int, last: int) -> None:
        if 1 <= period <= last:  # outside the range: in no cell
            self.grains.append(grain)
            self.starts.append(start)
            self.periods.append(period)
            self.signs.append(sign)

    def arrays(self) -> list[Any]:
        return [self.grains, self.starts, self.periods, self.signs]


def _pieces(start: datetime, end: datetime, edges: list[datetime]) -> list[tuple[int, datetime]]:
    """[start, end) of an edge day as hours, and quarter hours where an edge or either end
    cuts an hour."""
    out: list[tuple[int, datetime]] = []
    hour = bucket_of(start, rollup.HOUR)
    while hour < end:
        following = hour + _HOUR
        if start <= hour and following <= end and not any(hour < e < following for e in edges):
            out.append((rollup.HOUR, hour))
        else:
            for k in range(4):
                quarter = hour + k * _QUARTER
                if start <= quarter < end:
                    out.append((rollup.QUARTER, quarter))
        hour = following
    return out


def axis(bounds: list[datetime]) -> Axis:
    """The pieces of [bounds[0], bounds[-1]) by the periods `bounds` start (the last is the
    range's end), as width_bucket numbers them."""
    last = len(bounds) - 1
    if any(bucket_of(b, rollup.QUARTER) != b for b in bounds):
        raise NotAligned

    def period(at: datetime) -> int:
        return bisect_right(bounds, at)

    out = Axis()
    day = bucket_of(bounds[0], rollup.DAY)
    while day < bounds[-1]:
        following = day + _DAY
        inside = [b for b in bounds if day < b < following]
        if not inside:
            out.add(rollup.DAY, day, period(day), 1, last)
        elif len(inside) == 1:
            edge = inside[0]
            out.edge_days.append(day)
            before, after = _pieces(day, edge, inside), _pieces(edge, following, inside)
            side, whole = (
                (after, period(day))
                if sum(_COST[g] for g, _ in after) <= sum(_COST[g] for g, _ in before)
                else (before, period(edge))
            )
            other = period(edge) if whole == period(day) else period(day)
            out.add(rollup.DAY, day, whole, 1, last)
            for grain, start in side:
                out.add(grain, start, other, 1, last)
                out.add(grain, start, whole, -1, last)
        else:
            out.edge_days.append(day)
            for grain, start in _pieces(day, following, inside):
                out.add(grain, start, period(start), 1, last)
        day = following
    return out


def quarters(a: Axis) -> Axis:
    """The pieces of an axis's edge days as quarter hours (QQ rows are read so)."""
    out = Axis()
    for grain, start, p, s in zip(a.grains, a.starts, a.periods, a.signs, strict=True):
        if grain == rollup.DAY:
            continue
        for k in range(grain // rollup.QUARTER):
            out.add(rollup.QUARTER, start + k * _QUARTER, p, s, p)
    return out


_MAP = "unnest({}::int[], {}::timestamptz[], {}::int[], {}::int[]) AS {}(grain, at, period, sign)"
_VALUES = {
    "revenue": "r.revenue",
    "payout": "r.payout",
    "conversions": "r.conversions",
}


def day_periods(a: Axis, low: datetime, end: datetime) -> list[int]:
    """The period of each UTC day's whole-day piece from `low` until `end`, 0 for a day
    without one (outside the range, or cut by several edges): an axis holds at most one
    whole-day piece per day, always of sign 1, so a row's day is looked up by its index
    rather than joined (a join of both axes' days is a nested loop of 365 x 365 probes)."""
    out = [0] * ((end - low + _DAY - timedelta(microseconds=1)) // _DAY)
    for grain, start, p, s in zip(a.grains, a.starts, a.periods, a.signs, strict=True):
        if grain == rollup.DAY:
            assert s == 1
            out[(start - low) // _DAY] = p
    return out


def _day(key: str) -> str:
    """The period of the whole-day piece of `key`'s UTC day (0: none), by $21 from $19."""
    return f"($21::int[])[extract(epoch FROM {key} - $19::timestamptz)::int / 86400 + 1]"


def _by_day(piece: str, hours: int, quarters: int, amount: str, *, first: bool) -> str:
    """The rows of `piece`'s hours and quarters (k1) by whole days (k2) of the other axis;
    `first`: the pieces are the customers' first conversions'."""
    periods = "d.period, d.day" if first else "d.day, d.period"
    return f"""SELECT {periods}, d.currency, sum(d.conversions * d.sign), sum(d.value * d.sign),
       1 FROM (
SELECT {piece}.period, {_day("r.k2")} AS day, r.currency, r.conversions, {amount} AS value,
       {piece}.sign
FROM {piece} JOIN customer_cohorts r
  ON r.level = CASE {piece}.grain WHEN {rollup.HOUR} THEN {hours} ELSE {quarters} END
 AND r.k1 = {piece}.at
WHERE {piece}.grain < {rollup.DAY} AND r.k2 >= $19 AND r.k2 < $20
) d WHERE d.day > 0 GROUP BY 1, 2, 3"""


def sql(bounds: list[datetime], metric: str) -> tuple[str, list[Any]]:
    """Rows (cohort, g, size, age, currency, value) as app/reports/queries.py:cohorts gives
    them for an admin's report without groups or filters."""
    first, then = axis(bounds), axis(bounds)
    fq, vq = quarters(first), quarters(then)
    args: list[Any] = [*first.arrays(), *then.arrays(), *fq.arrays(), *vq.arrays()]
    args += [first.edge_days, then.edge_days]
    f, v, fqm, vqm = (
        _MAP.format(*(f"${i + j}" for j in range(1, 5)), name)
        for i, name in ((0, "f"), (4, "v"), (8, "fq"), (12, "vq"))
    )
    money = metric in ("revenue", "payout")
    currency = "x.currency" if money else "NULL::text"
    value = "sum(x.value * x.sign)" if money else "sum(x.value * x.sign)::bigint"
    amount = _VALUES[metric]
    low = bucket_of(bounds[0], rollup.DAY)
    days = day_periods(first, low, bounds[-1])
    assert days == day_periods(then, low, bounds[-1])  # both axes are cut by one range
    text = f"""WITH f AS MATERIALIZED (SELECT * FROM {f}),
v AS MATERIALIZED (SELECT * FROM {v}),
cells AS (
SELECT d.cohort, d.at, d.currency, sum(d.conversions) AS conversions, sum(d.value) AS value,
       1 AS sign FROM (
SELECT {_day("r.k1")} AS cohort, {_day("r.k2")} AS at, r.currency, r.conversions,
       {amount} AS value
FROM customer_cohorts r
WHERE r.level = {rollup.DD} AND r.k1 >= $19 AND r.k1 < $20 AND r.k2 >= $19 AND r.k2 < $20
) d WHERE d.cohort > 0 AND d.at > 0 GROUP BY 1, 2, 3
UNION ALL
{_by_day("f", rollup.HD, rollup.QD, amount, first=True)}
UNION ALL
{_by_day("v", rollup.DH, rollup.DQ, amount, first=False)}
UNION ALL
SELECT fq.period, vq.period, r.currency, sum(r.conversions * fq.sign * vq.sign),
       sum({amount} * fq.sign * vq.sign), 1
FROM customer_cohorts r
JOIN {fqm} ON fq.at = r.k3
JOIN {vqm} ON vq.at = r.k4
WHERE r.level = {rollup.QQ} AND r.k1 = ANY($17::timestamptz[]) AND r.k2 = ANY($18::timestamptz[])
GROUP BY 1, 2, 3
), grouped AS (
SELECT x.cohort, x.at - x.cohort AS age, {currency} AS currency, {value} AS value
FROM cells x GROUP BY 1, 2, 3 HAVING sum(x.conversions * x.sign) <> 0
), sizes AS (
SELECT f.period AS cohort, sum(s.customers * f.sign)::bigint AS size
FROM f JOIN customer_cohort_sizes s ON s.grain = f.grain AND s.bucket = f.at
GROUP BY 1 HAVING sum(s.customers * f.sign) <> 0
)
SELECT s.cohort, NULL::text AS g, s.size, c.age, c.currency, c.value
FROM sizes s LEFT JOIN grouped c ON c.cohort = s.cohort
ORDER BY s.cohort, c.currency NULLS FIRST, c.age"""
    return text, [*args, low, bounds[-1], days]
