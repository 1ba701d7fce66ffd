"""The pieces a cohort report's axis is read as from the cohort rollup
(app/reports/cohort_rollup.py): whole coarse pieces (UTC weeks cut at UTC month starts),
whole UTC days, and the hours and quarter hours of the UTC days that hold a local period's
edge, each with the 1-based
period it counts in and a sign; any instant of the range is counted once, in its period.
An edge day with one edge counts whole in one period, plus its other side's pieces
counted in the other period and taken back from the first."""

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


def _whole_before(day: datetime, before: list[Any], after: list[Any], coarse: bool) -> bool:
    """Whether an edge day counts whole in the period of its start (its later side moved):
    with `coarse`, when the day lies in the later half of its coarse piece, so that the day
    goes with the rest of it (UTC+13 and +14 too); else, and for a piece of one day (it
    goes whole either way), when its later side is the cheaper to read."""
    if coarse:
        start = rollup.piece_of(day)
        length = rollup.piece_end(start) - start
        if length > _DAY:
            return (day - start) * 2 >= length
    return sum(_COST[g] for g, _ in after) <= sum(_COST[g] for g, _ in before)


def axis(bounds: list[datetime], coarse: bool = False) -> Axis:
    """The pieces of [bounds[0], bounds[-1]) by the periods `bounds` start (the last is the
    range's end), as width_bucket numbers them; `coarse`: see `_whole_before`."""
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
                if _whole_before(day, before, after, coarse)
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


def coalesce(a: Axis) -> Axis:
    """`a` with the whole-day pieces of each coarse piece (a UTC week cut at UTC month
    starts) whose days all count whole in one period replaced by one piece of it."""
    whole = {
        at: p for g, at, p in zip(a.grains, a.starts, a.periods, strict=True) if g == rollup.DAY
    }
    covered: dict[datetime, int] = {}  # a coarse piece's start -> its period
    inside: set[datetime] = set()
    for day in sorted(whole):
        start = rollup.piece_of(day)
        if start in covered or start != day:
            continue
        end = rollup.piece_end(start)
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
        out.grains.append(rollup.PIECE)
        out.starts.append(start)
        out.periods.append(p)
        out.signs.append(1)
    return out


def coarse_axis(bounds: list[datetime]) -> tuple[Axis, Axis]:
    """The axis with its coarse pieces, and the axis of days it is made from."""
    days = axis(bounds, coarse=True)
    return coalesce(days), days


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
