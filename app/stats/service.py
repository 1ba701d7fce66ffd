"""Stats reports: parse and check a request, pick the source that answers it exactly,
run it, and render rows as JSON values or CSV lines.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from app import patterns
from app.db import Pool
from app.errors import BadRequest, Forbidden
from app.keys.service import Principal
from app.money import format_money
from app.patterns import MAX_ID
from app.stats import queries
from app.stats.queries import (
    DIMENSIONS,
    ID_DIMENSIONS,
    METRICS,
    NETWORK_METRICS,
    SUB_DIMENSIONS,
    TIME_DIMENSIONS,
    Read,
    Report,
)

Format = Literal["json", "csv"]

DEFAULT_DAYS = 7
# Rollups answer a year at once; raw clicks (sub-ID and source reports) are scanned
# partition by partition, so their span is kept to a quarter.
MAX_SPAN = timedelta(days=366)
MAX_RAW_SPAN = timedelta(days=93)
# A JSON answer is built in memory; bigger reports take a limit or format=csv.
MAX_JSON_ROWS = 10_000
MAX_LIMIT = 1_000_000
MAX_FILTER_VALUES = 100
MAX_TEXT_VALUE = 1024  # sub-IDs are stored up to 1,024 characters (DESIGN.md)
QUERY_PARAMETERS = frozenset({"from", "to", "tz", "group_by", "sort", "limit", "format"})

# IANA zones with summer time whose names PostgreSQL takes for fixed-offset abbreviations
# first (AT TIME ZONE 'CET' is always +01:00). They are read as the city zones the IANA
# database links them to (since 2024b), which PostgreSQL reads as zones.
ABBREVIATION_ZONES = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}
TZ_NAME = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"
_TZ_NAME = re.compile(TZ_NAME)
_COUNTRY = re.compile(r"^([A-Za-z]{2})?$")
# What the user-agent parser produces ("Mac OS X", "Chrome Mobile iOS", "Other").
_AGENT_VALUE = re.compile(r"^[\w .()/+-]{0,64}$")
_TEXT_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _bad(code: str, message: str) -> BadRequest:
    return BadRequest(message, code=code)


@dataclass(frozen=True, slots=True)
class Plan:
    report: Report
    zone: ZoneInfo
    reads: tuple[Read, ...] | None  # None: raw clicks and conversions
    columns: tuple[str, ...]  # output columns, in order
    hidden: frozenset[str]


# --- time zone rules ----------------------------------------------------------------

# Offsets over the coming year (now and every quarter), by PostgreSQL's rules.
_ZONE_OFFSETS = """
SELECT z.name, t.at,
       extract(epoch FROM (t.at AT TIME ZONE z.name) - (t.at AT TIME ZONE 'UTC'))::int AS offset_s
FROM pg_timezone_names z
CROSS JOIN (SELECT now() + make_interval(months => m) AS at FROM generate_series(0, 9, 3) m) t
"""


async def zones_out_of_step(pool: Pool, load: Callable[[str], ZoneInfo] = ZoneInfo) -> list[str]:
    """The zones whose offsets in the coming year differ between PostgreSQL and Python.

    Reports cut local days in Python and label rows in SQL: with two tz databases of
    different versions, a zone whose rules changed in between (America/Vancouver in
    2026) would have its days cut an hour off. Checked once at start, and logged."""
    names: dict[str, ZoneInfo | None] = {}
    out = set()
    for row in await pool.fetch(_ZONE_OFFSETS):
        name = row["name"]
        if name in ABBREVIATION_ZONES:
            continue  # read as a city zone by the API
        if name not in names:
            try:
                names[name] = load(name) if _TZ_NAME.match(name) else None
            except (ZoneInfoNotFoundError, ValueError, OSError):
                names[name] = None
        zone = names[name]
        offset = row["at"].astimezone(zone).utcoffset() if zone is not None else None
        if offset is not None and int(offset.total_seconds()) != row["offset_s"]:
            out.add(name)
    return sorted(out)


# --- parsing ----------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    # The pattern keeps file paths and POSIX TZ strings ("UTC+5", inverted in PostgreSQL)
    # out; ZoneInfo then checks the name against the IANA database.
    if len(name) > 64 or not _TZ_NAME.match(name):
        raise _bad("unknown_time_zone", f"tz: {name[:64]!r} is not an IANA time zone name")
    name = ABBREVIATION_ZONES.get(name, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("unknown_time_zone", f"tz: {name!r} is not an IANA time zone name") from None


def _local_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _instant(text: str, zone: ZoneInfo, *, name: str, end: bool) -> datetime:
    """A `from`/`to` bound as a UTC instant. A date means its whole (local) day, so a
    date `to` ends where the next day starts; a time is the instant itself (`to` is
    exclusive); a time without an offset is local time in `tz`."""
    try:
        if not patterns.matches(patterns.DATE_OR_TIME, text):
            raise ValueError
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _local_start(day + timedelta(days=1) if end else day, zone)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31 plus a day overflows
        raise _bad(
            "invalid_range", f"{name}: expected an ISO date or time such as 2026-11-24"
        ) from None


def _names(text: str | None, allowed: Sequence[str], *, what: str, code: str) -> list[str]:
    if not text:
        return []
    names = [n.strip() for n in text.split(",")]
    for n in names:
        if n not in allowed:
            raise _bad(code, f"{what}: unknown name {n[:40]!r}; allowed: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise _bad(code, f"{what}: a name is listed twice")
    return names


def _filter_values(dimension: str, raw: list[str]) -> list[Any]:
    # Comma-separated values for every filter but the free-text ones, whose values may
    # contain commas; those take repeated parameters (sub1=a&sub1=b).
    pieces = raw if dimension in SUB_DIMENSIONS else [p for r in raw for p in r.split(",")]
    if len(pieces) > MAX_FILTER_VALUES:
        raise _bad("invalid_filter", f"{dimension}: at most {MAX_FILTER_VALUES} values")
    values: list[Any] = []
    for piece in pieces:
        value = piece.strip() if dimension not in SUB_DIMENSIONS else piece
        try:
            if dimension in ID_DIMENSIONS:
                number = int(value)
                if not 1 <= number <= MAX_ID:
                    raise ValueError
                values.append(number)
            elif dimension == "hour":
                number = int(value)
                if not 0 <= number <= 23:
                    raise ValueError
                values.append(number)
            elif dimension == "day":
                values.append(date.fromisoformat(value))
            elif dimension == "country":
                if not _COUNTRY.match(value):
                    raise ValueError
                values.append(value.upper())
            elif dimension in SUB_DIMENSIONS:
                # Any text is a legitimate sub-ID (it is bound, never spliced); NUL is
                # the one character PostgreSQL text cannot hold.
                if "\x00" in value:
                    raise ValueError
                values.append(value[:MAX_TEXT_VALUE])
            else:
                if not _AGENT_VALUE.match(value):
                    raise ValueError
                values.append(value)
        except ValueError:
            raise _bad(
                "invalid_filter", f"{dimension}: {value[:40]!r} is not a valid value"
            ) from None
    return values


def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> set[int]:
    """The UTC offsets (seconds) the zone uses in [start, end], sampled every hour:
    offsets change at most a few times a year and never for less than an hour."""
    offsets = set()
    moment = start
    while moment < end:
        offset = moment.astimezone(zone).utcoffset()
        assert offset is not None
        offsets.add(int(offset.total_seconds()))
        moment += timedelta(hours=1)
    last = end.astimezone(zone).utcoffset()
    assert last is not None
    offsets.add(int(last.total_seconds()))
    return offsets


def _local_days(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants in (start, end) where a local day starts (a day starting in a DST gap
    starts at the transition, as PostgreSQL's AT TIME ZONE has it)."""
    cuts = []
    day = start.astimezone(zone).date() + timedelta(days=1)
    while (cut := _local_start(day, zone)) < end:
        if cut > start:
            cuts.append(cut)
        day += timedelta(days=1)
    return cuts


Pieces = list[tuple[int, int, int]]  # (grain, start, end) in seconds since the epoch


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


DAY = 86400


def _count(pieces: Pieces) -> int:
    return sum((end - start) // grain for grain, start, end in pieces)


def _reads(report: Report, zone: ZoneInfo) -> tuple[Read, ...] | None:
    """The rollup reads that answer the report exactly, or None for the raw rows.

    Every bucket read must lie inside one group: inside one local hour when the report
    groups or filters by hour (hour buckets serve whole-hour zones, 15-minute buckets every
    zone in use today), inside one local day when by day. So the range is cut at local
    midnights, and each piece is read from the coarsest tier whose buckets fit it: UTC
    days in the middle, hours and quarter hours towards the edges. A tier small enough to
    read whole (network totals) is taken alone when it keeps the dimensions used.

    By day in a zone off UTC, no UTC day fits in a local day, but most of one does: a
    Europe/Berlin day is UTC day D from 00:00 to 23:00 plus the hour before. Such a UTC day
    is read whole, labelled by the local day of its noon, and the hours it holds of the
    next local day (or past the range) are read again, negated, under that same label;
    those hours are also read normally under their own day. One daily row and two hourly
    ones replace 23 hourly rows.
    """
    used = {*report.group_by, *report.filters}
    local = used & set(TIME_DIMENSIONS)
    tiers = [t for t in queries.TIERS if used - set(TIME_DIMENSIONS) <= t.dimensions]
    coarsest = DAY
    cuts: list[datetime] = []
    if "hour" in local:
        offsets = _offsets(zone, report.start, report.end)
        coarsest = next((g for g in (3600, 900) if all(o % g == 0 for o in offsets)), 0)
    elif "day" in local:
        cuts = _local_days(zone, report.start, report.end)
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
    if "day" in local and DAY in grains:
        finer = grains[1:]
        first, last = edges[0], edges[-1]
        for day_start in range(first // DAY * DAY, last, DAY):
            # A daily row is labelled by its noon: the local day holding most of it.
            noon = datetime.fromtimestamp(day_start + DAY // 2, UTC)
            label = noon.astimezone(zone).date()
            start = max(day_start, first, int(_local_start(label, zone).timestamp()))
            end = min(
                day_start + DAY,
                last,
                int(_local_start(label + timedelta(days=1), zone).timestamp()),
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


def plan(params: Mapping[str, list[str]], principal: Principal) -> tuple[Plan, Format]:
    """Check a request's query parameters (name -> values) and plan the report."""
    for name in params:
        if name not in QUERY_PARAMETERS and name not in DIMENSIONS:
            raise _bad("unknown_parameter", f"unknown parameter or filter {name[:40]!r}")

    def one(name: str) -> str | None:
        values = params.get(name)
        if values and len(values) > 1:
            raise _bad("invalid_request", f"{name}: given more than once")
        return values[0] if values else None

    fmt: Format
    match one("format"):
        case None | "json":
            fmt = "json"
        case "csv":
            fmt = "csv"
        case _:
            raise _bad("invalid_request", "format: expected json or csv")
    zone = _zone(one("tz") or "UTC")
    today = datetime.now(UTC).astimezone(zone).date()
    from_text, to_text = one("from"), one("to")
    start = (
        _instant(from_text, zone, name="from", end=False)
        if from_text
        else _local_start(today - timedelta(days=DEFAULT_DAYS - 1), zone)
    )
    end = (
        _instant(to_text, zone, name="to", end=True)
        if to_text
        else _local_start(today + timedelta(days=1), zone)
    )
    if start >= end:
        raise _bad("invalid_range", "from must be before to")
    if end - start > MAX_SPAN:
        raise _bad("range_too_long", f"a report covers at most {MAX_SPAN.days} days")

    group_by = _names(one("group_by"), DIMENSIONS, what="group_by", code="unknown_dimension")
    filters = {d: _filter_values(d, params[d]) for d in DIMENSIONS if d in params}
    if not principal.is_admin:
        own = principal.affiliate_id
        if any(v != own for v in filters.get("affiliate", [])):
            raise Forbidden("this key may not see another affiliate's stats")
        filters["affiliate"] = [own]
    hidden = frozenset() if principal.is_admin else NETWORK_METRICS

    limit_text = one("limit")
    limit: int | None = None
    if limit_text is not None:
        # ASCII digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
        limit = int(limit_text) if limit_text.isascii() and limit_text.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad("invalid_limit", f"limit: expected a whole number from 1 to {MAX_LIMIT}")

    sortable = [m for m in METRICS if m not in hidden] + group_by
    sort: list[tuple[str, bool]] = []
    for item in (one("sort") or "").split(","):
        key = item.strip()
        if not key:
            continue
        descending = key.startswith("-")
        name = key[1:] if descending else key
        if name not in sortable:
            raise _bad("invalid_sort", f"sort: {name[:40]!r} is not a metric or group_by field")
        column = name if name in METRICS else f"d_{name}"
        if any(c == column for c, _ in sort):
            raise _bad("invalid_sort", "sort: a name is listed twice")
        sort.append((column, descending))

    report = Report(
        start=start,
        end=end,
        tz=zone.key,
        group_by=tuple(group_by),
        filters=filters,
        sort=tuple(sort),
        limit=limit,
    )
    reads = _reads(report, zone)
    if reads is None and end - start > MAX_RAW_SPAN:
        raise _bad(
            "range_too_long",
            f"reports by sub-ID or source, or with bounds off the quarter hour, cover at most "
            f"{MAX_RAW_SPAN.days} days",
        )
    columns: list[str] = []
    for d in group_by:
        columns.append(d)
        if d in queries.NAME_COLUMNS:
            columns.append(f"{d}_name")
    columns.append("currency")
    columns += [m for m in METRICS if m not in hidden]
    return Plan(report, zone, reads, tuple(columns), hidden), fmt


# --- rendering --------------------------------------------------------------------


Cells = Callable[[asyncpg.Record], list[Any]]
_DECIMAL_METRICS = frozenset({"revenue", "payout", "profit", "cr", "epc"})
_TEXT_DIMENSIONS = frozenset({*SUB_DIMENSIONS, "country", "device", "os", "browser"})


def _none_if_empty(value: str) -> str | None:
    return value or None  # "none": a click without that sub-ID, an unknown country


def _converter(column: str, zone: ZoneInfo) -> Callable[[Any], Any] | None:
    if column == "hour":
        return lambda value: value.astimezone(zone).isoformat()
    if column == "day":
        return date.isoformat
    if column in _DECIMAL_METRICS:
        return format_money
    if column in _TEXT_DIMENSIONS:
        return _none_if_empty
    return None


def _cells(plan: Plan) -> Cells:
    """A record's output values, in the plan's column order; the conversions are looked up
    once per report, not once per cell (a CSV export renders tens of thousands of rows)."""
    steps = [(f"d_{c}" if c in DIMENSIONS else c, _converter(c, plan.zone)) for c in plan.columns]

    def cells(record: asyncpg.Record) -> list[Any]:
        out = []
        for source, convert in steps:
            value = record[source]
            out.append(value if value is None or convert is None else convert(value))
        return out

    return cells


def _row(record: asyncpg.Record, plan: Plan, cells: Cells) -> dict[str, Any]:
    return dict(zip(plan.columns, cells(record), strict=True))


def _totals(records: Iterable[asyncpg.Record], plan: Plan, cells: Cells) -> dict[str, Any]:
    """Totals over every row, and per currency: money only adds up within one currency,
    so the overall money fields are null when the report holds several."""
    per_currency = sorted(
        (
            {k: v for k, v in _row(r, plan, cells).items() if k == "currency" or k in METRICS}
            for r in records
        ),
        key=lambda r: str(r["currency"]),
    )
    if len(per_currency) == 1:
        return {"totals": dict(per_currency[0]), "totals_by_currency": per_currency}
    overall: dict[str, Any] = {"currency": None}
    for m in queries.COUNT_METRICS:
        overall[m] = sum(r[m] for r in per_currency)
    for m in METRICS:
        if m in plan.hidden or m in overall:
            continue
        if m == "cr":
            clicks = overall["clicks"]
            overall[m] = (
                format_money(
                    (Decimal(overall["conversions"]) * 100 / clicks).quantize(
                        Decimal("0.01"), ROUND_HALF_UP
                    )
                )
                if clicks
                else None
            )
        elif m == "epc" or per_currency:
            overall[m] = None
        else:
            overall[m] = "0.00"  # an empty report: no money in any currency
    return {"totals": overall, "totals_by_currency": per_currency}


async def report_json(pool: Pool, plan: Plan) -> dict[str, Any]:
    report = plan.report
    capped = Report(
        start=report.start,
        end=report.end,
        tz=report.tz,
        group_by=report.group_by,
        filters=report.filters,
        sort=report.sort,
        limit=min(report.limit or MAX_JSON_ROWS + 1, MAX_JSON_ROWS + 1),
    )
    sql, args = queries.build(capped, plan.reads, totals=True)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(queries.STATEMENT_SETTINGS)
        records = await conn.fetch(sql, *args)
    rows = [r for r in records if not r["is_total"]]
    totals = [r for r in records if r["is_total"]] if report.group_by else rows
    if len(rows) > MAX_JSON_ROWS:
        raise _bad(
            "too_many_rows",
            f"the report has more than {MAX_JSON_ROWS} rows: add a limit, narrow it, "
            "or use format=csv",
        )
    cells = _cells(plan)
    return {"rows": [_row(r, plan, cells) for r in rows], **_totals(totals, plan, cells)}


def _defuse(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet; sub-IDs and names are
    # visitor- or user-supplied text, so they are defused with a leading apostrophe.
    # Metrics (a negative profit) are numbers and are never passed here.
    if isinstance(value, str) and value.startswith(_TEXT_FORMULA_START):
        return "'" + value
    return value


async def report_csv(pool: Pool, plan: Plan) -> AsyncIterator[bytes]:
    """The report as CSV lines, header first, streamed from a server-side cursor."""
    sql, args = queries.build(plan.report, plan.reads, totals=False)
    cells = _cells(plan)
    text = [
        i
        for i, c in enumerate(plan.columns)
        if c in _TEXT_DIMENSIONS or c.endswith("_name") or c == "currency"
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(plan.columns)
    # Connected before the header goes out: the route reads that first chunk before the
    # response starts, so PostgreSQL out of reach is a 503, not a cut download.
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(queries.STATEMENT_SETTINGS)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        async for record in conn.cursor(sql, *args, prefetch=2000):
            values = cells(record)
            for i in text:
                values[i] = _defuse(values[i])
            writer.writerow(values)
            if buffer.tell() > 65536:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
