"""Which rollup tiers answer a report exactly, over which buckets, or whether only the
raw clicks and conversions do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from app.rollups import registry
from app.stats import vocabulary, zones
from app.stats.queries import Read, Report
from app.stats.request import ReportRequest, bad
from app.stats.vocabulary import METRICS, TIME_DIMENSIONS

# Raw clicks (sub-ID and source reports) are scanned partition by partition, so their
# span is kept to a quarter.
MAX_RAW_SPAN = timedelta(days=93)
DAY = 86400
PERIODS: tuple[zones.Period, ...] = ("day", "week", "month")  # finest first

Pieces = list[tuple[int, int, int]]  # (grain, start, end) in seconds since the epoch


@dataclass(frozen=True, slots=True)
class Plan:
    report: Report
    zone: ZoneInfo
    reads: tuple[Read, ...] | None  # None: raw clicks and conversions
    columns: tuple[str, ...]  # output columns, in order
    hidden: frozenset[str]
    # A top-N sub-ID report the sub-ID tier may answer (app/stats/subids.py): the rollup
    # reads of its totals (the same report, ungrouped).
    totals_reads: tuple[Read, ...] | None = None


def _split(start: int, end: int, grains: Sequence[int]) -> Pieces | None:
    """[start, end) as runs of whole buckets, coarsest in the middle: a Kolkata day from
    18:30 UTC is two quarter hours, 23 hours and two quarter hours. None if the ends are
    off the finest grain."""
    if start == end:
        return []
    if not grains:
        return None
    grain, finer = grains[0], grains[1:]
    first, last = -(-start // grain) * grain, end // grain * grain
    if first >= last:
        return _split(start, end, finer)
    head, tail = _split(start, first, finer), _split(last, end, finer)
    if head is None or tail is None:
        return None
    return [*head, (grain, first, last), *tail]


def _count(pieces: Pieces) -> int:
    return sum((end - start) // grain for grain, start, end in pieces)


def _reads(report: Report, zone: ZoneInfo) -> tuple[Read, ...] | None:
    """The rollup reads that answer the report exactly, or None for the raw rows.

    Every bucket read must lie inside one group: inside one local hour when the report
    groups or filters by hour (hour buckets serve whole-hour zones, 15-minute buckets every
    zone in use today), inside one local day when by day (one local week or month when by
    week or month, and not by day). So the range is cut at local midnights (or where
    local weeks or months start), and each piece is read from the coarsest tier whose
    buckets fit it: UTC days in the middle, hours and quarter hours towards the edges. A
    tier small enough to read whole (network totals) is taken alone when it keeps the
    dimensions used.

    By day in a zone off UTC, no UTC day fits in a local day, but most of one does: a
    Europe/Berlin day is UTC day D from 00:00 to 23:00 plus the hour before. Such a UTC day
    is read whole, labelled by the local day of its noon, and the hours it holds of the
    next local day (or past the range) are read again, negated, under that same label;
    those hours are also read normally under their own day. One daily row and two hourly
    ones replace 23 hourly rows. By week or month the same happens only at the UTC days
    where a local week or month starts.
    """
    used = {*report.group_by, *report.filters}
    local = used & set(TIME_DIMENSIONS)
    tiers = [t for t in registry.TIERS if used - set(TIME_DIMENSIONS) <= t.dimensions]
    coarsest = DAY
    cuts: list[datetime] = []
    # The finest local period used: its starts cut the range (a week or a month is read
    # as whole UTC days inside it, cut only where a week or month starts).
    period: zones.Period | None = next((p for p in PERIODS if p in local), None)
    if "hour" in local:
        offsets = zones.offsets(zone, report.start, report.end)
        coarsest = next((g for g in (3600, 900) if all(o % g == 0 for o in offsets)), 0)
    elif period is not None:
        cuts = zones.local_days(zone, report.start, report.end, period)
    edges = [int(t.timestamp()) for t in (report.start, *cuts, report.end)]
    if any(t.microsecond for t in (report.start, report.end)):
        return None

    def pieces(grains: Sequence[int]) -> Pieces | None:
        out: Pieces = []
        for start, end in pairwise(edges):
            split = _split(start, end, grains)
            if split is None:
                return None
            out += split
        return out

    for tier in tiers:
        if tier.whole and tier.grain_s <= coarsest and (whole := pieces([tier.grain_s])):
            return (Read(tier, _ranges(whole)),)
    grains = sorted({t.grain_s for t in tiers if t.grain_s <= coarsest}, reverse=True)
    days: Pieces = []  # UTC days read whole although they straddle a local midnight
    negated: Pieces = []  # what they hold outside the local day they are labelled with
    covered: list[tuple[int, int]] = []  # what they answer for
    if period is not None and DAY in grains:
        finer = grains[1:]
        first, last = edges[0], edges[-1]
        for day_start in range(first // DAY * DAY, last, DAY):
            # A daily row is labelled by its noon: the local day holding most of it (and
            # so the week or month of that day).
            noon = datetime.fromtimestamp(day_start + DAY // 2, UTC)
            label = zones.period_start(noon.astimezone(zone).date(), period)
            start = max(day_start, first, int(zones.local_start(label, zone).timestamp()))
            end = min(
                day_start + DAY,
                last,
                int(zones.local_start(zones.next_period(label, period), zone).timestamp()),
            )
            if end - start in range(1, DAY):
                inside = _split(start, end, finer)
                head = _split(day_start, start, finer)
                tail = _split(end, day_start + DAY, finer)
                if (
                    inside
                    and head is not None
                    and tail is not None
                    and 1 + _count(head) + _count(tail) < _count(inside)
                ):
                    days.append((DAY, day_start, day_start + DAY))
                    negated += head + tail
                    covered.append((start, end))
    # The spans answered by whole UTC days are left out of the plain split.
    found: Pieces = list(days)
    skip = set(covered)  # each is one span between neighbouring edges
    for start, end in pairwise(sorted({*edges, *(t for span in covered for t in span)})):
        if (start, end) in skip:
            continue
        split = _split(start, end, grains)
        if split is None:
            return None
        found += split
    if not found:
        return None
    reads = []
    for negate, chosen in ((False, found), (True, negated)):
        for grain in grains:
            runs = [p for p in chosen if p[0] == grain]
            if runs:
                tier = next(t for t in tiers if t.grain_s == grain and not t.whole)
                reads.append(Read(tier, _ranges(runs), negate=negate))
    return tuple(reads)


def _ranges(pieces: Pieces) -> tuple[tuple[datetime, datetime], ...]:
    """The pieces' spans as UTC instants, adjacent ones joined."""
    joined: list[list[int]] = []
    for _, start, end in sorted(pieces, key=lambda p: p[1]):
        if joined and joined[-1][1] == start:
            joined[-1][1] = end
        else:
            joined.append([start, end])
    return tuple(
        (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        for start, end in joined
    )


# The largest limit the sub-ID tier answers; a longer list reads the raw clicks.
MAX_TOP_SUBIDS = 1000


def _top_subids(report: Report, zone: ZoneInfo) -> tuple[Read, ...] | None:
    """The totals' reads of a report the sub-ID tier may answer: one sub-ID dimension,
    of one affiliate or of all (no filter), sorted by clicks alone, with a limit; None for
    any other."""
    one_or_all = not report.filters or (
        set(report.filters) == {"affiliate"} and len(report.filters["affiliate"]) == 1
    )
    if not (
        len(report.group_by) == 1
        and report.group_by[0] in vocabulary.SUB_DIMENSIONS
        and one_or_all
        and report.sort == (("clicks", True),)
        and report.limit is not None
        and report.limit <= MAX_TOP_SUBIDS
    ):
        return None
    return _reads(replace(report, group_by=(), sort=(), limit=None), zone)


def plan(request: ReportRequest) -> Plan:
    report, hidden = request.report, request.hidden
    reads = _reads(report, request.zone)
    if reads is None and report.end - report.start > MAX_RAW_SPAN:
        raise bad(
            "range_too_long",
            f"reports by sub-ID or source, or with bounds off the quarter hour, cover at most "
            f"{MAX_RAW_SPAN.days} days",
        )
    columns: list[str] = []
    for d in report.group_by:
        columns.append(d)
        if d in vocabulary.NAME_COLUMNS:
            columns.append(f"{d}_name")
    columns.append("currency")
    columns += [m for m in METRICS if m not in hidden]
    totals_reads = _top_subids(report, request.zone) if reads is None else None
    return Plan(report, request.zone, reads, tuple(columns), hidden, totals_reads)
