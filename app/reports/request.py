"""The query parameters of /reports/cohorts and /reports/funnel, checked and read: ranges,
zones and filters as /stats reads them (app/stats/request.py), periods as UTC instants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from app.errors import Forbidden
from app.keys.service import Principal
from app.patterns import MAX_ID
from app.stats import zones
from app.stats.request import bad, filter_values, time_range
from app.stats.zones import next_period, period_start

Period = Literal["week", "month"]
PERIODS: tuple[Period, ...] = ("week", "month")
COHORT_METRICS = ("revenue", "payout", "customers", "conversions")
MONEY = frozenset({"revenue", "payout"})
# A customer's binding: who brought it, through what (app/customers).
SUBS = ("sub1", "sub2", "sub3", "sub4", "sub5", "source")
BINDING = ("affiliate", "offer", "link", *SUBS, "country")
COHORT_GROUPS = ("affiliate", "offer", *SUBS, "country")
FUNNEL_GROUPS = ("affiliate", "link", "country")
_COHORT_PARAMETERS = frozenset({"from", "to", "tz", "period", "metric", "group_by"})
_FUNNEL_PARAMETERS = frozenset({"offer", "from", "to", "tz", "group_by"})
DEFAULT_PERIODS = 12


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime  # UTC
    end: datetime
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class CohortRequest:
    range: Range
    period: Period
    bounds: tuple[datetime, ...]  # where each period starts (the first at `start`)
    metric: str
    group_by: str | None
    filters: dict[str, list[Any]]


@dataclass(frozen=True, slots=True)
class FunnelRequest:
    range: Range
    offer_id: int
    group_by: str | None
    affiliate_id: int | None  # an affiliate key's own


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if values and len(values) > 1:
        raise bad("invalid_request", f"{name}: given more than once")
    return values[0] if values else None


def _check_names(params: Mapping[str, list[str]], allowed: frozenset[str]) -> None:
    for name in params:
        if name not in allowed:
            raise bad("unknown_parameter", f"unknown parameter or filter {name[:40]!r}")


def _range(params: Mapping[str, list[str]], default_from: date | None) -> Range:
    zone = zones.zone(_one(params, "tz") or "UTC")
    today = datetime.now(UTC).astimezone(zone).date()
    first = default_from if default_from is not None else today - timedelta(days=29)
    start, end = time_range(
        _one(params, "from"), _one(params, "to"), zone, first=first, today=today
    )
    return Range(start, end, zone)


def bounds(period: Period, span: Range) -> tuple[datetime, ...]:
    """The instants where the range's periods start, in its zone: the range's start, then
    each local week (Monday) or month start before its end."""
    out = [span.start]
    day = next_period(period_start(span.start.astimezone(span.zone).date(), period), period)
    while (moment := zones.local_start(day, span.zone)) < span.end:
        if moment > span.start:
            out.append(moment)
        day = next_period(day, period)
    return tuple(out)


def _scoped(filters: dict[str, list[Any]], principal: Principal) -> None:
    if principal.is_admin:
        return
    own = principal.affiliate_id
    if any(v != own for v in filters.get("affiliate", [])):
        raise Forbidden("this key may not see another affiliate's reports")
    filters["affiliate"] = [own]


def parse_cohorts(params: Mapping[str, list[str]], principal: Principal) -> CohortRequest:
    _check_names(params, _COHORT_PARAMETERS | set(BINDING))
    period_text = _one(params, "period") or "month"
    if period_text not in PERIODS:
        raise bad("invalid_period", "period: expected week or month")
    period: Period = "week" if period_text == "week" else "month"
    metric = _one(params, "metric") or "revenue"
    if metric not in COHORT_METRICS:
        raise bad("unknown_metric", f"metric: expected one of {', '.join(COHORT_METRICS)}")
    if metric == "revenue" and not principal.is_admin:
        raise Forbidden("an affiliate key sees payouts, not the advertiser's revenue")
    group_by = _one(params, "group_by") or None
    if group_by is not None and group_by not in COHORT_GROUPS:
        raise bad("unknown_dimension", f"group_by: expected one of {', '.join(COHORT_GROUPS)}")
    zone = zones.zone(_one(params, "tz") or "UTC")
    today = datetime.now(UTC).astimezone(zone).date()
    first = period_start(today, period)
    for _ in range(DEFAULT_PERIODS - 1):
        first = period_start(first - timedelta(days=1), period)
    span = _range(params, first)
    filters = {d: filter_values(d, params[d]) for d in BINDING if d in params}
    _scoped(filters, principal)
    return CohortRequest(span, period, bounds(period, span), metric, group_by, filters)


def parse_funnel(params: Mapping[str, list[str]], principal: Principal) -> FunnelRequest:
    _check_names(params, _FUNNEL_PARAMETERS)
    offer_text = _one(params, "offer")
    if offer_text is None:
        raise bad("missing_offer", "offer: required, the ID of the offer")
    offer = int(offer_text) if offer_text.isascii() and offer_text.isdigit() else 0
    if not 1 <= offer <= MAX_ID:
        raise bad("invalid_filter", f"offer: {offer_text[:40]!r} is not an offer ID")
    group_by = _one(params, "group_by") or None
    if group_by is not None and group_by not in FUNNEL_GROUPS:
        raise bad("unknown_dimension", f"group_by: expected one of {', '.join(FUNNEL_GROUPS)}")
    span = _range(params, None)
    return FunnelRequest(span, offer, group_by, principal.only_affiliate_id)
