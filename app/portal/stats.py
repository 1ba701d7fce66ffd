"""The managers' stats: every option of /api/v1/stats (group-bys, filters, sort, top N,
zone: the user's by default) with date presets, the period before to compare with, a
chart, the table and the CSV download; through the stats service's own plan and report
functions, a manager limited to their affiliates as the overview is."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import QueryParams

from app.errors import AppError, BadRequest
from app.portal import overview, web
from app.portal.manage import Staff, StaffDep, _chart_json
from app.portal.scope import Scope
from app.rollups import registry
from app.stats import service as stats_service
from app.stats import zones
from app.stats.vocabulary import DIMENSIONS, FILTERS, METRICS

router = APIRouter(prefix="/manage", include_in_schema=False)

DEFAULT_PRESET = "7d"
DEFAULT_METRICS = ("clicks", "conversions", "revenue", "payout", "profit", "cr", "epc")
GROUPS_SHOWN = 2  # the form's group-by choices (the API takes any number)
NAMES = {
    "clicks": "Clicks",
    "unique_clicks": "Unique clicks",
    "bot_clicks": "Bot clicks",
    "conversions": "Conversions",
    "pending_conversions": "Pending",
    "rejected_conversions": "Rejected",
    "revenue": "Revenue",
    "payout": "Payout",
    "new_customers": "New customers",
    "repeat_conversions": "Repeat conversions",
    "customer_revenue": "Customer revenue",
    "profit": "Profit",
    "cr": "CR %",
    "epc": "EPC",
    "diverted": "Diverted",
    **{f"diverted_{r}": f"Diverted: {label}" for r, label in overview.DIVERTED_LABELS.items()},
    "currency": "Currency",
}
# The form's column choices: the reasons are the table of diverted clicks, not columns.
COLUMN_CHOICES = tuple(m for m in METRICS if m not in overview.REASON_METRICS)
KINDS = {
    **dict.fromkeys(registry.COUNT_METRICS, "count"),
    **dict.fromkeys((*registry.MONEY_METRICS, "profit", "epc"), "money"),
    "cr": "rate",
}


@dataclass(frozen=True, slots=True)
class View:
    """What the form asks for, as sent (the stats service checks every value)."""

    preset: str
    first: str
    last: str
    tz: str
    group_by: tuple[str, ...]
    filters: dict[str, str]
    metrics: tuple[str, ...]
    sort: str
    limit: str
    compare: bool


def view_of(query: QueryParams, zone: str) -> View:
    preset = query.get("preset") or ("custom" if query.get("from") else DEFAULT_PRESET)
    metrics = tuple(m for m in METRICS if m in query.getlist("metrics"))
    return View(
        preset=preset if preset in overview.PRESETS else DEFAULT_PRESET,
        first=query.get("from", ""),
        last=query.get("to", ""),
        tz=query.get("tz") or zone,
        group_by=tuple(dict.fromkeys(g for g in query.getlist("group_by") if g)),
        filters={d: query[d].strip() for d in FILTERS if query.get(d, "").strip()},
        metrics=metrics or DEFAULT_METRICS,
        sort=query.get("sort", "").strip(),
        limit=query.get("limit", "").strip(),
        compare=query.get("compare") == "1",
    )


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: choose a day (such as 2026-11-24)") from None


def period_of(view: View, today: date) -> overview.Period:
    if view.preset != "custom":
        return overview.preset(view.preset, today)
    first, last = _day(view.first, "From"), _day(view.last, "To")
    if first > last:
        raise BadRequest("From must be on or before To")
    return overview.preset("custom", today, first, last)


def _check_affiliates(view: View, scope: Scope) -> None:
    """A manager's affiliate filter names their own affiliates only; any other is a 404
    (all of theirs, however many, are the service's `among`: no filter of the view)."""
    asked = view.filters.get("affiliate")
    if scope.affiliates is None or not asked:
        return
    ids = [web.url_id(piece.strip()) for piece in asked.split(",")]
    # Only plain IDs go on: int() in the service also reads "+7" and other scripts' digits.
    if not all(ids):
        raise BadRequest("affiliate: give affiliate IDs (such as 3 or 3,7)")
    if not all(scope.allows(i) for i in ids):
        raise web.PageAnswer(web.not_found(None))


def params_of(view: View, first: date, last: date, scope: Scope) -> dict[str, list[str]] | None:
    """The API's query parameters for `view` over [first, last]; None: nothing to count
    (a manager with no affiliates)."""
    if scope.affiliates == []:
        return None
    _check_affiliates(view, scope)
    params = {"from": [first.isoformat()], "to": [last.isoformat()], "tz": [view.tz]}
    params.update({d: [v] for d, v in view.filters.items()})
    if view.group_by:
        params["group_by"] = [",".join(view.group_by)]
    if view.sort:
        params["sort"] = [view.sort]
    if view.limit:
        params["limit"] = [view.limit]
    return params


def _chart_params(params: dict[str, list[str]], key: str) -> dict[str, list[str]]:
    kept = {k: v for k, v in params.items() if k not in ("group_by", "sort", "limit")}
    return {**kept, "group_by": [key]}


def _hours(first: date, zone_name: str) -> tuple[list[str], list[int]]:
    """A local day's hours (23 to 25 of them), as the report labels them, and instants."""
    zone = zones.zone(zone_name)
    start, end = zones.local_start(first, zone), zones.local_start(first + timedelta(days=1), zone)
    count = int((end - start).total_seconds()) // 3600
    moments = [start + timedelta(hours=i) for i in range(count)]
    return [m.astimezone(zone).isoformat() for m in moments], [int(m.timestamp()) for m in moments]


def _compared(current: dict[str, Any], previous: dict[str, Any], metrics: tuple[str, ...]) -> Any:
    """Per currency: each metric now, in the period before, and the change in percent."""
    now = {r["currency"]: r for r in current["totals_by_currency"]}
    before = {r["currency"]: r for r in previous["totals_by_currency"]}
    if not now and not before:
        now, before = {None: current["totals"]}, {None: previous["totals"]}
    out = []
    for currency in sorted({*now, *before}, key=str):
        # A currency of one period only: nothing counted in the other.
        nothing = {
            "currency": currency,
            **{m: 0 if KINDS.get(m) == "count" else None for m in metrics},
        }
        row, old = now.get(currency, nothing), before.get(currency, nothing)
        change = {m: overview.change(_decimal(row.get(m)), _decimal(old.get(m))) for m in metrics}
        out.append({"currency": row["currency"], "now": row, "then": old, "change": change})
    return out


def _head(column: str) -> str:
    """A column's heading: a metric's name; `offer`, `offer_name` as Offer, Offer name."""
    return NAMES.get(column) or column.replace("_", " ").capitalize()


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def asked(staff: Staff, view: View) -> tuple[overview.Period, dict[str, list[str]] | None]:
    """The days `view` covers (in its zone) and the API's parameters for them."""
    today = datetime.now(UTC).astimezone(zones.zone(view.tz)).date()
    span = period_of(view, today)
    return span, params_of(view, span.first, span.last, staff.scope)


async def _numbers(staff: Staff, view: View) -> dict[str, Any] | None:
    pool, principal, among = staff.pool, staff.scope.principal, staff.scope.affiliates
    span, params = asked(staff, view)
    if params is None:
        return None
    plan, _ = stats_service.plan(overview.first_rows(params, among), principal, among=among)
    one_day = span.first == span.last
    key = "hour" if one_day else "day"
    chart_plan, _ = stats_service.plan(_chart_params(params, key), principal, among=among)
    asks = [stats_service.report_json(pool, plan), stats_service.report_json(pool, chart_plan)]
    if view.compare:
        before = {**params, "from": [span.previous_first.isoformat()]}
        before["to"] = [span.previous_last.isoformat()]
        before_plan, _ = stats_service.plan(
            overview.first_rows(before, among), principal, among=among
        )
        asks.append(stats_service.report_json(pool, before_plan))
    report, by_time, *previous = await asyncio.gather(*asks)
    hidden = set(plan.hidden)
    if one_day:
        labels, moments = _hours(span.first, view.tz)
        chart = {**overview.chart(by_time, labels, hidden, key="hour"), "xs": moments}
    else:
        days = (span.last - span.first).days + 1
        chart = overview.chart(by_time, overview.day_labels(span.first, days), hidden)
    chart.update(tz=plan.zone.key, span=f"{span.first.isoformat()} to {span.last.isoformat()}")
    shown = [c for c in plan.columns if c not in METRICS or c in view.metrics]
    return {
        "span": span,
        "report": report,
        "columns": shown,
        "total_heads": [("Currency", "skip")] + [(NAMES[m], "num") for m in view.metrics],
        "row_heads": [(_head(c), "num" if c in KINDS else "text") for c in shown],
        "chart_json": _chart_json(chart),
        "compared": _compared(report, previous[0], view.metrics) if previous else None,
        "diverted": overview.diverted_by_reason(report["totals"]),
        "shown_rows": overview.shown_rows(params, among),
        "top_subids": overview.top_subids(params, among),
    }


def _links(request: Request) -> dict[str, str]:
    """Each preset's address with the rest of the view kept; the CSV download's."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("preset",)]
    presets = {
        key: "/manage/stats?"
        + urlencode([("preset", key), *((k, v) for k, v in pairs if k not in ("from", "to"))])
        for key in overview.PRESETS
        if key != "custom"
    }
    return {**presets, "csv": "/manage/stats.csv?" + request.url.query}


@router.get("/stats")
async def stats_page(request: Request, staff: StaffDep) -> Response:
    view = view_of(request.query_params, staff.user.time_zone)
    error, data, status = None, None, 200
    try:
        data = await _numbers(staff, view)
    except AppError as exc:
        error, status = exc.message, 400
    except web.PageAnswer:
        return web.not_found(staff.user)
    return web.render(
        "stats.html",
        {
            "user": staff.user,
            "nav": "stats",
            "view": view,
            "data": data,
            "error": error,
            "links": _links(request),
            "presets": overview.PRESETS,
            "dimensions": DIMENSIONS,
            "filter_names": FILTERS,
            "metrics": COLUMN_CHOICES,
            "names": NAMES,
            "kinds": KINDS,
            "scope": staff.scope,
            "groups_shown": GROUPS_SHOWN,
        },
        status=status,
    )


@router.get("/stats.csv")
async def stats_csv(request: Request, staff: StaffDep) -> Response:
    """The table's report as the API's CSV (every metric, every row)."""
    view = view_of(request.query_params, staff.user.time_zone)
    try:
        _, params = asked(staff, view)
        if params is None:
            return web.not_found(staff.user)
        plan, _ = stats_service.plan(params, staff.scope.principal, among=staff.scope.affiliates)
        return await stats_service.csv_download(staff.pool, plan)
    except AppError as exc:
        body = {"title": "No download", "message": exc.message, "user": staff.user}
        return web.render("message.html", body, status=400)
    except web.PageAnswer:
        return web.not_found(staff.user)
