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

Then a UTC month or week (`rollup.COARSE`) all of whose days count whole in one period is
read as one coarse piece (`coalesce`): month x month rows (CC), month x day (CD, DC),
piece x month (HC, QC, CH, CQ), so that a year's report reads a few thousand rows, not the
131k of day x day; the days left over (the range's ends) are read against each other by
their lists. Both axes are cut by the same range, so into the same pieces."""

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

    def add(self, grain: int, start: datetime, period: int, sign: int, last: int) -> None:
        if 1 <= period <= last:  # outside the range: in no cell
            self.grains.append(grain)
            self.starts.append(start)
            self.periods.append(period)
            self.signs.append(sign)

    def arrays(self) -> list[Any]:
        return [self.grains, self.starts, self.periods, self.signs]

    def days(self) -> list[datetime]:
        """The UTC days read as whole-day pieces."""
        return [at for g, at in zip(self.grains, self.starts, strict=True) if g == rollup.DAY]

    def runs(self) -> tuple[list[datetime], list[datetime]]:
        """The days() as runs of consecutive days: their starts and ends (the range's
        ends, mostly: two runs)."""
        lows: list[datetime] = []
        highs: list[datetime] = []
        for day in sorted(self.days()):
            if highs and highs[-1] == day:
                highs[-1] = day + _DAY
            else:
                lows.append(day)
                highs.append(day + _DAY)
        return lows, highs


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


def _whole_before(day: datetime, before: list[Any], after: list[Any], toward: int | None) -> bool:
    """Whether an edge day counts whole in the period of its start (its later side moved):
    with `toward` a coarse grain, when the day lies in the later half of its UTC month or
    week, so that the day goes with the rest of it (UTC+13 and +14 too); else when its
    later side is the cheaper to read."""
    if toward is not None:
        start = rollup.coarse_of(day, toward)
        return (day - start) * 2 >= rollup.coarse_end(start, toward) - start
    return sum(_COST[g] for g, _ in after) <= sum(_COST[g] for g, _ in before)


def axis(bounds: list[datetime], toward: int | None = None) -> Axis:
    """The pieces of [bounds[0], bounds[-1]) by the periods `bounds` start (the last is the
    range's end), as width_bucket numbers them; `toward`: see `_whole_before`."""
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
            before, after = _pieces(day, edge, inside), _pieces(edge, following, inside)
            side, whole = (
                (after, period(day))
                if _whole_before(day, before, after, toward)
                else (before, period(edge))
            )
            other = period(edge) if whole == period(day) else period(day)
            out.add(rollup.DAY, day, whole, 1, last)
            for grain, start in side:
                out.add(grain, start, other, 1, last)
                out.add(grain, start, whole, -1, last)
        else:
            for grain, start in _pieces(day, following, inside):
                out.add(grain, start, period(start), 1, last)
        day = following
    return out


def coalesce(a: Axis, grain: int) -> Axis:
    """`a` with the whole-day pieces of each UTC month or week (`grain`) whose days all
    count whole in one period replaced by one piece of that grain."""
    whole = {
        at: p for g, at, p in zip(a.grains, a.starts, a.periods, strict=True) if g == rollup.DAY
    }
    covered: dict[datetime, int] = {}  # a coarse piece's start -> its period
    inside: set[datetime] = set()
    for day in sorted(whole):
        start = rollup.coarse_of(day, grain)
        if start in covered or start != day:
            continue
        end = rollup.coarse_end(start, grain)
        days = [start + k * _DAY for k in range((end - start) // _DAY)]
        if len({whole.get(d) for d in days}) == 1:
            covered[start] = whole[start]
            inside.update(days)
    out = Axis()
    for g, at, p, s in zip(a.grains, a.starts, a.periods, a.signs, strict=True):
        if g != rollup.DAY or at not in inside:
            out.grains.append(g)
            out.starts.append(at)
            out.periods.append(p)
            out.signs.append(s)
    for start, p in covered.items():
        out.grains.append(grain)
        out.starts.append(start)
        out.periods.append(p)
        out.signs.append(1)
    return out


def coarse_axis(bounds: list[datetime]) -> tuple[int, Axis, Axis]:
    """The coarse grain read, the axis with its coarse pieces, and the axis of days."""
    options = []
    for grain in rollup.COARSE:
        days = axis(bounds, grain)
        options.append((grain, coalesce(days, grain), days))
    return min(options, key=lambda o: len(o[1].grains))


def quarters(a: Axis) -> Axis:
    """The pieces of an axis's edge days as quarter hours (QQ rows are read so)."""
    out = Axis()
    for grain, start, p, s in zip(a.grains, a.starts, a.periods, a.signs, strict=True):
        if grain >= rollup.DAY:
            continue
        for k in range(grain // rollup.QUARTER):
            out.add(rollup.QUARTER, start + k * _QUARTER, p, s, p)
    return out


def edge_spans(q: Axis) -> tuple[list[datetime], list[datetime], list[datetime]]:
    """Each UTC day of a quarter axis's pieces with the first and the end of its quarters:
    one side of an edge day (or the whole of a day cut twice) is one stretch of time."""
    spans: dict[datetime, tuple[datetime, datetime]] = {}
    for at in q.starts:
        day = bucket_of(at, rollup.DAY)
        low, high = spans.get(day, (at, at + _QUARTER))
        spans[day] = (min(low, at), max(high, at + _QUARTER))
    days = sorted(spans)
    return days, [spans[d][0] for d in days], [spans[d][1] for d in days]


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


def _coarse(key: str, grain: int) -> str:
    """The period of the coarse piece of `key`'s UTC month or week (NULL or 0: none), by
    $24 from the coarse number $23 (`coarse_number` of the first)."""
    if grain == rollup.MONTH:
        number = (
            f"(extract(year FROM {key} AT TIME ZONE 'UTC')::int * 12"
            f" + extract(month FROM {key} AT TIME ZONE 'UTC')::int)"
        )
    else:
        number = f"((extract(epoch FROM {key})::bigint - {_MONDAY_EPOCH}) / 604800)::int"
    return f"($24::int[])[{number} - $23::int + 1]"


_MONDAY_EPOCH = 946857600  # 2000-01-03, a Monday, where the UTC weeks start


def coarse_number(start: datetime, grain: int) -> int:
    """A UTC month's or week's number, as `_coarse` computes it in SQL."""
    if grain == rollup.MONTH:
        return start.year * 12 + start.month
    return (int(start.timestamp()) - _MONDAY_EPOCH) // 604800


def coarse_periods(a: Axis, grain: int) -> tuple[int, list[int]]:
    """The number of the axis's first coarse piece and each piece's period from it on."""
    numbers = {
        coarse_number(at, g): p
        for g, at, p in zip(a.grains, a.starts, a.periods, strict=True)
        if g == grain
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
    grain: int,
    amount: str,
    *,
    first: bool,
) -> str:
    """Cells (first period, conversion period, currency, conversions, value, 1) of the
    pieces of `piece`'s grains in `levels` by the other axis's whole days (k2 one of the
    runs $22, $30), and of those in `coarse` by its coarse pieces of `grain`."""
    by_day = _pieces_of(piece, levels, _day("r.k2"), amount, days=True)
    by_coarse = _pieces_of(piece, coarse, _coarse("r.k2", grain), amount, days=False)
    periods = "d.p, d.other" if first else "d.other, d.p"
    return f"""SELECT {periods}, d.currency, d.conversions, d.value, 1 FROM (
{_spread(by_day)}
UNION ALL
{_spread(by_coarse)}
) d WHERE d.other > 0"""


def sql(bounds: list[datetime], metric: str) -> tuple[str, list[Any]]:
    """Rows (cohort, g, size, age, currency, value) as app/reports/queries.py:cohorts gives
    them for an admin's report without groups or filters."""
    grain, first, days = coarse_axis(bounds)
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
    H, Q = rollup.HOUR, rollup.QUARTER
    c = rollup.coarse_level(grain, 0)
    # The first axis's pieces by the other's days and coarse pieces, coarse ones included;
    # the conversions' sub-day pieces by the first axis's days and coarse pieces.
    first_pairs = _pairs(
        "f",
        {H: rollup.HD, Q: rollup.QD, grain: c + rollup.CD},
        {H: c + rollup.HC, Q: c + rollup.QC, grain: c + rollup.CC},
        grain,
        amount,
        first=True,
    )
    then_pairs = _pairs(
        "v",
        {H: rollup.DH, Q: rollup.DQ, grain: c + rollup.DC},
        {H: c + rollup.CH, Q: c + rollup.CQ},
        grain,
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
    base, coarse = coarse_periods(first, grain)
    lows, highs = first.runs()
    more = [low, bounds[-1], periods, lows, base, coarse, *days.arrays(), spans[2], highs]
    more.append(first.days())
    return text, [*args, *more]
