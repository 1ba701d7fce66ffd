"""A stats request's query parameters, checked and read into a Report."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from app import patterns
from app.api_params import documented
from app.errors import BadRequest, Forbidden
from app.keys.service import Principal
from app.patterns import MAX_ID
from app.stats import zones
from app.stats.queries import Report
from app.stats.vocabulary import (
    DIMENSIONS,
    FILTERS,
    ID_DIMENSIONS,
    METRICS,
    NETWORK_METRICS,
    SUB_DIMENSIONS,
)

Format = Literal["json", "csv"]

DEFAULT_DAYS = 7
# Rollups answer a year at once (raw clicks less: see planner.MAX_RAW_SPAN).
MAX_SPAN = timedelta(days=366)
MAX_LIMIT = 1_000_000
MAX_FILTER_VALUES = 100
MAX_TEXT_VALUE = 1024  # sub-IDs are stored up to 1,024 characters (DESIGN.md)
QUERY_PARAMETERS = frozenset({"from", "to", "tz", "group_by", "sort", "limit", "format"})

_COUNTRY = re.compile(r"^([A-Za-z]{2})?$")
# What the user-agent parser produces ("Mac OS X", "Chrome Mobile iOS", "Other").
_AGENT_VALUE = re.compile(r"^[\w .()/+-]{0,64}$")


@dataclass(frozen=True, slots=True)
class ReportRequest:
    report: Report
    zone: ZoneInfo
    hidden: frozenset[str]  # metrics this key may not see
    format: Format


# `?tz=`, as the report routes document it (zones.zone checks it).
TzQuery = Annotated[
    str | None,
    documented(
        "IANA time zone, default UTC", maxLength=64, pattern=f"^(?:{zones.TZ_NAME[1:-1]})?$"
    ),
]


def bad(code: str, message: str) -> BadRequest:
    return BadRequest(message, code=code)


def instant(text: str, zone: ZoneInfo, *, name: str, end: bool) -> datetime:
    """A `from`/`to` bound as a UTC instant. A date means its whole (local) day, so a
    date `to` ends where the next day starts; a time is the instant itself (`to` is
    exclusive); a time without an offset is local time in `tz`."""
    try:
        if not patterns.matches(patterns.DATE_OR_TIME, text):
            raise ValueError
        if len(text) == 10:
            day = date.fromisoformat(text)
            return zones.local_start(day + timedelta(days=1) if end else day, zone)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # 9999-12-31 plus a day overflows
        raise bad(
            "invalid_range", f"{name}: expected an ISO date or time such as 2026-11-24"
        ) from None


def time_range(
    from_text: str | None, to_text: str | None, zone: ZoneInfo, *, first: date, today: date
) -> tuple[datetime, datetime]:
    """The [start, end) of `?from=&to=`: by default from the day `first` to the end of
    `today`, local to the zone; refused when empty or longer than MAX_SPAN."""
    start = (
        instant(from_text, zone, name="from", end=False)
        if from_text
        else zones.local_start(first, zone)
    )
    end = (
        instant(to_text, zone, name="to", end=True)
        if to_text
        else zones.local_start(today + timedelta(days=1), zone)
    )
    if start >= end:
        raise bad("invalid_range", "from must be before to")
    if end - start > MAX_SPAN:
        raise bad("range_too_long", f"a report covers at most {MAX_SPAN.days} days")
    return start, end


def _names(text: str | None, allowed: Sequence[str], *, what: str, code: str) -> list[str]:
    if not text:
        return []
    names = [n.strip() for n in text.split(",")]
    for n in names:
        if n not in allowed:
            raise bad(code, f"{what}: unknown name {n[:40]!r}; allowed: {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise bad(code, f"{what}: a name is listed twice")
    return names


def filter_values(dimension: str, raw: list[str]) -> list[Any]:
    # Comma-separated values for every filter but the free-text ones, whose values may
    # contain commas; those take repeated parameters (sub1=a&sub1=b).
    pieces = raw if dimension in SUB_DIMENSIONS else [p for r in raw for p in r.split(",")]
    if len(pieces) > MAX_FILTER_VALUES:
        raise bad("invalid_filter", f"{dimension}: at most {MAX_FILTER_VALUES} values")
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
            raise bad(
                "invalid_filter", f"{dimension}: {value[:40]!r} is not a valid value"
            ) from None
    return values


def parse(
    params: Mapping[str, list[str]], principal: Principal, *, among: Sequence[int] | None = None
) -> ReportRequest:
    """Check a request's query parameters (name -> values) against what the key may see;
    `among`: the only affiliates counted (a portal manager's, however many: they are not
    a filter typed, so MAX_FILTER_VALUES is not theirs), within any affiliate filter."""
    for name in params:
        if name not in QUERY_PARAMETERS and name not in FILTERS:
            raise bad("unknown_parameter", f"unknown parameter or filter {name[:40]!r}")

    def one(name: str) -> str | None:
        values = params.get(name)
        if values and len(values) > 1:
            raise bad("invalid_request", f"{name}: given more than once")
        return values[0] if values else None

    fmt: Format
    match one("format"):
        case None | "json":
            fmt = "json"
        case "csv":
            fmt = "csv"
        case _:
            raise bad("invalid_request", "format: expected json or csv")
    zone = zones.zone(one("tz") or "UTC")
    today = datetime.now(UTC).astimezone(zone).date()
    start, end = time_range(
        one("from"), one("to"), zone, first=today - timedelta(days=DEFAULT_DAYS - 1), today=today
    )

    group_by = _names(one("group_by"), DIMENSIONS, what="group_by", code="unknown_dimension")
    filters = {d: filter_values(d, params[d]) for d in FILTERS if d in params}
    if principal.is_manager:
        filters["affiliate"] = principal.managed_filter(filters.get("affiliate", []))
    elif not principal.is_admin:
        own = principal.affiliate_id
        if any(v != own for v in filters.get("affiliate", [])):
            raise Forbidden("this key may not see another affiliate's stats")
        filters["affiliate"] = [own]
    if among is not None:
        allowed = set(among)
        filters["affiliate"] = [a for a in filters.get("affiliate", among) if a in allowed]
        if not filters["affiliate"]:
            raise Forbidden("no affiliate of these is yours")
    hidden = frozenset() if principal.is_admin else NETWORK_METRICS

    limit_text = one("limit")
    limit: int | None = None
    if limit_text is not None:
        # ASCII digits only: int() would also take " 5", "+5", "5_0" and other scripts' digits.
        limit = int(limit_text) if limit_text.isascii() and limit_text.isdigit() else 0
        if not 1 <= limit <= MAX_LIMIT:
            raise bad("invalid_limit", f"limit: expected a whole number from 1 to {MAX_LIMIT}")

    sortable = [m for m in METRICS if m not in hidden] + group_by
    sort: list[tuple[str, bool]] = []
    for item in (one("sort") or "").split(","):
        key = item.strip()
        if not key:
            continue
        descending = key.startswith("-")
        name = key[1:] if descending else key
        if name not in sortable:
            raise bad("invalid_sort", f"sort: {name[:40]!r} is not a metric or group_by field")
        column = name if name in METRICS else f"d_{name}"
        if any(c == column for c, _ in sort):
            raise bad("invalid_sort", "sort: a name is listed twice")
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
    return ReportRequest(report, zone, hidden, fmt)
