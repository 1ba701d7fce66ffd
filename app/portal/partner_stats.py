"""The affiliate's stats: the stats API's own report (the same parameters, planned and run
by app/stats with the affiliate's principal, so its revenue, profit and other affiliates
never reach the page), as tiles against the period before, a daily chart, a table and
the API's CSV download."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import AppError
from app.keys.service import Principal
from app.portal import overview, web
from app.portal.manage import _chart_json
from app.portal.partner_links import Affiliate, AffiliateDep
from app.rollups import registry
from app.stats import service as stats_service
from app.stats import vocabulary
from app.stats.planner import Plan
from app.stats.vocabulary import DIMENSIONS, ID_DIMENSIONS, SUB_DIMENSIONS

router = APIRouter(prefix="/partner", include_in_schema=False)

PRESETS = overview.PRESETS  # the same date presets as the managers' stats screen
DEFAULT_PRESET = "7d"
# Every dimension of the API but the affiliate (always the affiliate itself here).
GROUPS = tuple(d for d in DIMENSIONS if d != "affiliate")
FILTERS = tuple(d for d in vocabulary.FILTERS if d not in ("affiliate", "hour", "day"))
LABELS = {
    "hour": "Hour",
    "day": "Day",
    "week": "Week (from Monday)",
    "month": "Month",
    "offer": "Offer",
    "offer_name": "Offer name",
    "link": "Link",
    "link_name": "Link code",
    "sub1": "Sub 1",
    "sub2": "Sub 2",
    "sub3": "Sub 3",
    "sub4": "Sub 4",
    "sub5": "Sub 5",
    "source": "Source",
    "country": "Country",
    "device": "Device",
    "os": "OS",
    "browser": "Browser",
    "currency": "Currency",
    "clicks": "Clicks",
    "unique_clicks": "Unique clicks",
    "bot_clicks": "Bot clicks",
    "conversions": "Approved",
    "pending_conversions": "Pending",
    "rejected_conversions": "Rejected",
    "payout": "Earnings",
    "new_customers": "New customers",
    "repeat_conversions": "Repeat conversions",
    "cr": "CR %",
    "epc": "EPC",
    "diverted": "Diverted",
}
MONEY_COLUMNS = frozenset({"payout", "epc"})
NUMBER_COLUMNS = frozenset({*registry.COUNT_METRICS, *ID_DIMENSIONS})
TEXT_COLUMNS = frozenset({*SUB_DIMENSIONS, "country", "device", "os", "browser"})


class BadForm(Exception):
    pass


def preset_span(preset: str, today: date) -> tuple[date, date]:
    """The first and last day of a preset, `today` being the reader's."""
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    match preset:
        case "today":
            return today, today
        case "yesterday":
            return today - timedelta(days=1), today - timedelta(days=1)
        case "7d":
            return today - timedelta(days=6), today
        case "30d":
            return today - timedelta(days=29), today
        case "mtd":
            return month_start, today
        case "last_month":
            return last_month_end.replace(day=1), last_month_end
    raise BadForm(f"Unknown period {preset[:20]!r}.")


def _day(text: str | None, name: str) -> date:
    try:
        if text is None or len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise BadForm(f"{name}: choose a date such as 2026-11-24.") from None


def read_form(q: Mapping[str, str], today: date) -> dict[str, Any]:
    """The page's query as the report it asks for: the period's days, the groups and the
    filters by the API's names (empty ones left out)."""
    preset = q.get("preset") or DEFAULT_PRESET
    if preset == "custom":
        first, last = _day(q.get("from"), "From"), _day(q.get("to"), "To")
    else:
        first, last = preset_span(preset, today)
    groups: list[str] = []
    for name in ("group_by", "then_by"):
        # No group_by at all: by day; an empty one: the totals only.
        value = q.get(name, "day" if name == "group_by" else "")
        if value and value not in GROUPS:
            raise BadForm(f"Unknown grouping {value[:20]!r}.")
        if value and value not in groups:
            groups.append(value)
    filters = {d: q[d].strip() for d in FILTERS if q.get(d, "").strip()}
    return {"preset": preset, "first": first, "last": last, "groups": groups, "filters": filters}


def api_params(form: Mapping[str, Any], zone: str, group_by: list[str]) -> dict[str, list[str]]:
    """The GET /api/v1/stats query of the report (name -> values)."""
    params = {"from": [form["first"].isoformat()], "to": [form["last"].isoformat()], "tz": [zone]}
    if group_by:
        params["group_by"] = [",".join(group_by)]
    for name, value in form["filters"].items():
        params[name] = [value]
    return params


def report_params(form: Mapping[str, Any], zone: str) -> dict[str, list[str]]:
    """The API query of the page's table and of its CSV: by one sub-ID, sorted by clicks
    (the table lists the top ones: overview.TOP_SUBIDS)."""
    params = api_params(form, zone, form["groups"])
    if overview.top_subids(params):
        params["sort"] = ["-clicks"]
    return params


def query_of(params: Mapping[str, list[str]]) -> str:
    return urlencode([(k, v) for k, values in params.items() for v in values])


def _plan(params: dict[str, list[str]], principal: Principal) -> Plan:
    plan, _ = stats_service.plan(params, principal)
    return plan


async def _report(me: Affiliate, form: dict[str, Any]) -> dict[str, Any]:
    zone = me.user.time_zone
    principal = me.principal
    main = report_params(form, zone)
    top_subids = "sort" in main  # the form has no sort of its own
    shown = overview.TOP_SUBIDS if top_subids else overview.SHOWN_ROWS
    plan = _plan({**main, "limit": [str(shown + 1)]}, principal)
    days = (form["last"] - form["first"]).days + 1
    previous_first = form["first"] - timedelta(days=days)
    before = {**form, "first": previous_first, "last": form["first"] - timedelta(days=1)}
    daily = form["groups"] == ["day"]
    asks = [stats_service.report_json(me.pool, plan)]
    asks.append(stats_service.report_json(me.pool, _plan(api_params(before, zone, []), principal)))
    if not daily:
        daily_plan = _plan(api_params(form, zone, ["day"]), principal)
        asks.append(stats_service.report_json(me.pool, daily_plan))
    results = await asyncio.gather(*asks)
    current, previous = results[0], results[1]
    hidden = overview.hidden_of(principal)
    period = overview.Period(
        "range",
        PRESETS.get(form["preset"], ""),
        form["first"],
        form["last"],
        previous_first,
        form["first"] - timedelta(days=1),
    )
    # Diverted clicks by reason are the table under the tiles; the report's rows keep
    # their total (the CSV has every reason).
    columns = [c for c in plan.columns if c not in overview.REASON_METRICS]
    return {
        "api_query": query_of(main),
        "columns": columns,
        "heads": [_head(c) for c in columns],
        "totals": current["totals"],
        "diverted": overview.diverted_by_reason(current["totals"]),
        "rows": current["rows"],
        "shown_rows": shown,
        "top_subids": top_subids,
        "periods": [{"period": period, "tiles": overview.tiles(current, previous, hidden)}],
        "chart": overview.chart(
            current if daily else results[2], overview.day_labels(form["first"], days), hidden
        ),
    }


def _head(column: str) -> str | tuple[str, str]:
    label = LABELS.get(column, column)
    numeric = column in NUMBER_COLUMNS or column in MONEY_COLUMNS or column == "cr"
    return (label, "num") if numeric else label


def _page_query(q: Mapping[str, str]) -> str:
    keep = ("preset", "from", "to", "group_by", "then_by", *FILTERS)
    return urlencode([(k, q[k]) for k in keep if q.get(k)])


@router.get("/stats")
async def stats_page(request: Request, me: AffiliateDep) -> Response:
    q = request.query_params
    today = datetime.now(UTC).astimezone(ZoneInfo(me.user.time_zone)).date()
    error, data, status, form = None, None, 200, None
    try:
        form = read_form(q, today)
        data = await _report(me, form)
    except BadForm as exc:
        error, status = str(exc), 400
    except AppError as exc:  # the stats API's own refusal (range, filter values)
        error, status = exc.message, exc.status if exc.status < 500 else 400
    return web.render(
        "partner_stats.html",
        {
            "user": me.user,
            "nav": "stats",
            "q": q,
            "form": form,
            "data": data,
            "error": error,
            "today": today,
            "presets": PRESETS,
            "groups": GROUPS,
            "filters": FILTERS,
            "labels": LABELS,
            "money_columns": MONEY_COLUMNS,
            "number_columns": NUMBER_COLUMNS,
            "text_columns": TEXT_COLUMNS,
            "page_query": _page_query(q),
            "chart_json": _chart_json(data["chart"]) if data else "{}",
        },
        status=status,
    )


@router.get("/stats.csv")
async def stats_csv(request: Request, me: AffiliateDep) -> Response:
    """The report of the page's query as the API's CSV download (the same bytes)."""
    today = datetime.now(UTC).astimezone(ZoneInfo(me.user.time_zone)).date()
    try:
        form = read_form(request.query_params, today)
        plan = _plan(report_params(form, me.user.time_zone), me.principal)
    except (BadForm, AppError):
        return web.see_other("/partner/stats?" + _page_query(request.query_params))
    return await stats_service.csv_download(me.pool, plan)
