"""Time zones for reports: which names are taken, where local days start, and whether
Python and PostgreSQL agree on the rules (reports cut local days in Python and label
rows in SQL)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.db import Pool
from app.errors import BadRequest
from app.stats import queries

# IANA zones with summer time whose names PostgreSQL takes for fixed-offset abbreviations
# first (AT TIME ZONE 'CET' is always +01:00). They are read as the city zones the IANA
# database links them to (since 2024b), which PostgreSQL reads as zones.
ABBREVIATION_ZONES = {
    "CET": "Europe/Brussels",
    "MET": "Europe/Brussels",
    "EET": "Europe/Athens",
    "WET": "Europe/Lisbon",
}
# The local periods a report groups by, cut in its zone.
Period = Literal["day", "week", "month"]
TZ_NAME = r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$"
_TZ_NAME = re.compile(TZ_NAME)


async def zones_out_of_step(pool: Pool, load: Callable[[str], ZoneInfo] = ZoneInfo) -> list[str]:
    """The zones whose offsets in the coming year differ between PostgreSQL and Python.

    Reports cut local days in Python and label rows in SQL: with two tz databases of
    different versions, a zone whose rules changed in between (America/Vancouver in
    2026) would have its days cut an hour off. Checked once at start, and logged."""
    names: dict[str, ZoneInfo | None] = {}
    out = set()
    for row in await pool.fetch(queries.ZONE_OFFSETS):
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


def zone(name: str) -> ZoneInfo:
    # The pattern keeps file paths and POSIX TZ strings ("UTC+5", inverted in PostgreSQL)
    # out; ZoneInfo then checks the name against the IANA database.
    if len(name) > 64 or not _TZ_NAME.match(name):
        raise BadRequest(
            f"tz: {name[:64]!r} is not an IANA time zone name", code="unknown_time_zone"
        )
    name = ABBREVIATION_ZONES.get(name, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(
            f"tz: {name!r} is not an IANA time zone name", code="unknown_time_zone"
        ) from None


def local_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def offsets(zone: ZoneInfo, start: datetime, end: datetime) -> set[int]:
    """The UTC offsets (seconds) the zone uses in [start, end], sampled every hour:
    offsets change at most a few times a year and never for less than an hour."""
    found = set()
    moment = start
    while moment < end:
        offset = moment.astimezone(zone).utcoffset()
        assert offset is not None
        found.add(int(offset.total_seconds()))
        moment += timedelta(hours=1)
    last = end.astimezone(zone).utcoffset()
    assert last is not None
    found.add(int(last.total_seconds()))
    return found


def period_start(day: date, period: Period) -> date:
    """The first day of the local day, ISO week (from Monday) or month holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def next_period(day: date, period: Period) -> date:
    """The first day of the period after the one `day` starts."""
    if period == "week":
        return day + timedelta(days=7)
    if period == "month":
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return day + timedelta(days=1)


def local_days(
    zone: ZoneInfo, start: datetime, end: datetime, period: Period = "day"
) -> list[datetime]:
    """The instants in (start, end) where a local day (or week, or month) starts (a day
    starting in a DST gap starts at the transition, as PostgreSQL's AT TIME ZONE has it)."""
    cuts = []
    day = next_period(period_start(start.astimezone(zone).date(), period), period)
    while (cut := local_start(day, zone)) < end:
        if cut > start:
            cuts.append(cut)
        day = next_period(day, period)
    return cuts
