"""The managers' console: the overview and the conversions log (approve, reject)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts.sessions import SessionUser, same_token
from app.attribution import service as attribution
from app.db import Pool
from app.errors import AppError
from app.pagination import PageParams
from app.patterns import MAX_ID
from app.portal import overview, web
from app.portal.scope import Scope, staff_scope

router = APIRouter(prefix="/manage", include_in_schema=False)

PAGE_SIZE = 50
_DONE = re.compile(r"^(approved|rejected):(\d{1,18})$")
STATUSES = ("approved", "pending", "rejected", "unattributed")


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in owner or manager, with what they may see."""

    user: SessionUser
    pool: Pool
    scope: Scope


async def _staff(request: Request) -> Staff | Response:
    """The staff member signed in, or the answer to anyone else (sign-in page, 404)."""
    user = await web.signed_in(request)
    if user is None:
        return web.see_other("/")
    if not user.is_staff:
        return web.not_found(user)
    pool = web.state(request).pool
    return Staff(user, pool, await staff_scope(pool, user))


def _id(text: str | None) -> int | None:
    """An ID from the URL: a whole number in range, else None (treated as absent)."""
    if text and text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID:
        return int(text)
    return None


def _chart_json(data: dict[str, Any]) -> str:
    # In a <script type="application/json">: data, never run; "</" cannot close it early.
    return orjson.dumps(data).decode().replace("</", "<\\/")


@router.get("")
async def overview_page(request: Request) -> Response:
    staff = await _staff(request)
    if isinstance(staff, Response):
        return staff
    user, pool, scope = staff.user, staff.pool, staff.scope
    affiliate = _id(request.query_params.get("affiliate"))
    if request.query_params.get("affiliate") and (affiliate is None or not scope.allows(affiliate)):
        return web.not_found(user)
    limited = [affiliate] if affiliate else scope.affiliates
    if limited == []:
        data = None  # a manager with no affiliates yet: nothing to count
    else:
        data = await overview.overview(
            pool, scope.principal, zone=user.time_zone, affiliates=limited
        )
    return web.render(
        "manage_overview.html",
        {
            "user": user,
            "nav": "overview",
            "data": data,
            "chart_json": _chart_json(data["chart"]) if data else "{}",
            "affiliate": affiliate,
            "scope": scope,
        },
    )


def _log_filters(request: Request, scope: Scope) -> dict[str, Any] | None:
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        status = None
    affiliate = _id(q.get("affiliate"))
    if q.get("affiliate") and (affiliate is None or not scope.allows(affiliate)):
        return None
    if affiliate is None and scope.affiliates is not None:
        # A manager's log lists one of their affiliates at a time (the conversions
        # service filters by one affiliate); the first, unless one is chosen.
        affiliate = scope.affiliates[0] if scope.affiliates else 0
    return {"status": status, "affiliate": affiliate, "after": _id(q.get("after")) or 0}


def _notice(done: str | None) -> str | None:
    """What the last decision was (`approved:12`), said back; anything else, nothing."""
    match = _DONE.match(done or "")
    return f"Conversion {match[2]} {match[1]}." if match else None


@router.get("/conversions")
async def conversions_page(request: Request) -> Response:
    staff = await _staff(request)
    if isinstance(staff, Response):
        return staff
    user, pool, scope = staff.user, staff.pool, staff.scope
    filters = _log_filters(request, scope)
    if filters is None:
        return web.not_found(user)
    rows: list[Any] = []
    if filters["affiliate"] != 0:
        rows = await attribution.list_conversions(
            pool,
            page=PageParams(limit=PAGE_SIZE + 1, cursor=str(filters["after"])),
            start=datetime.now(UTC) - timedelta(days=90),
            end=None,
            affiliate_id=filters["affiliate"],
            offer_id=None,
            status=filters["status"],
            event=None,
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return web.render(
        "conversions.html",
        {
            "user": user,
            "nav": "conversions",
            "rows": rows,
            "filters": filters,
            "statuses": STATUSES,
            "scope": scope,
            "next_after": rows[-1]["id"] if more and rows else None,
            "notice": _notice(request.query_params.get("done")),
        },
    )


@router.post("/conversions/{conversion_id}")
async def decide(request: Request, conversion_id: int) -> Response:
    """Approve or reject one conversion, by the conversions API's own service function."""
    staff = await _staff(request)
    if isinstance(staff, Response):
        return staff
    user, pool, scope = staff.user, staff.pool, staff.scope
    form = await web.read_form(request)
    if not same_token(form.get("csrf_token"), user.csrf_token):
        return web.csrf_refused()
    action = form.get("action")
    if action not in ("approve", "reject") or not 1 <= conversion_id <= MAX_ID:
        return web.refused("Unknown action.")
    try:
        row = await attribution.get_conversion(pool, conversion_id=conversion_id)
        if not scope.allows(row["affiliate_id"]):
            return web.not_found(user)
        await attribution.change_status(
            pool,
            conversion_id=conversion_id,
            status="approved" if action == "approve" else "rejected",
            changed_by=user.actor,
        )
    except AppError as exc:
        return web.render(
            "message.html",
            {"title": "Not changed", "message": exc.message, "user": user},
            status=exc.status,
        )
    back = form.get("back", "")
    # Back to the list it came from (a path of ours only, never another site).
    ours = back.startswith("/manage/conversions") and "//" not in back and "\\" not in back
    target = back if ours else "/manage/conversions"
    sep = "&" if "?" in target else "?"
    return web.see_other(f"{target}{sep}done={action}d:{conversion_id}")
