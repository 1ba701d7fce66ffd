"""The managers' conversions: the log (filters, approve or reject one or many) and a
conversion's record with its history, by the conversions API's own service functions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts.sessions import same_token
from app.attribution import service as attribution
from app.errors import AppError, Conflict, NotFound
from app.pagination import PageParams
from app.patterns import MAX_ID
from app.portal import web
from app.portal.manage import Staff, StaffDep
from app.portal.scope import Scope

router = APIRouter(prefix="/manage", include_in_schema=False)

PAGE_SIZE = 50
_DONE = re.compile(r"^(approved|rejected):(\d{1,18})(:many)?$")
STATUSES = ("approved", "pending", "rejected", "unattributed")


def _log_filters(request: Request, scope: Scope) -> dict[str, Any] | None:
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        status = None
    try:
        affiliate = scope.listed(web.url_id(q.get("affiliate")), bool(q.get("affiliate")))
    except LookupError:
        return None
    return {"status": status, "affiliate": affiliate, "after": web.url_id(q.get("after")) or 0}


def _notice(done: str | None) -> str | None:
    """What the last decision was (`approved:12`), said back; anything else, nothing."""
    match = _DONE.match(done or "")
    if match is None:
        return None
    if match[3]:
        return f"{match[2]} conversions {match[1]}."
    return f"Conversion {match[2]} {match[1]}."


@router.get("/conversions")
async def conversions_page(request: Request, staff: StaffDep) -> Response:
    user, pool, scope = staff.user, staff.pool, staff.scope
    filters = _log_filters(request, scope)
    if filters is None:
        return web.not_found(user)
    rows: list[Any] = []
    rows = await attribution.list_conversions(
        pool,
        page=PageParams(limit=PAGE_SIZE + 1, cursor=str(filters["after"])),
        start=datetime.now(UTC) - timedelta(days=90),
        end=None,
        affiliate_ids=scope.principal.scope(filters["affiliate"]),
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


@router.get("/conversions/{conversion_id}")
async def conversion_page(request: Request, conversion_id: str, staff: StaffDep) -> Response:
    """One conversion: its money, the click's details it carries, who changed it when."""
    user, pool, scope = staff.user, staff.pool, staff.scope
    wanted = web.url_id(conversion_id)
    try:
        if wanted is None:
            raise NotFound("no such conversion")
        row = await attribution.get_conversion(pool, conversion_id=wanted)
        if not scope.allows(row["affiliate_id"]):  # a manager's: their affiliates' only
            raise NotFound("no such conversion")
        history = await attribution.conversion_history(pool, conversion_id=wanted)
    except NotFound:
        return web.not_found(user)
    return web.render(
        "conversion.html",
        {"user": user, "nav": "conversions", "r": row, "history": history},
    )


@router.post("/conversions/decide")
async def decide_many(request: Request, staff: StaffDep) -> Response:
    """Approve or reject the conversions ticked in the log (`ids`, at most a page)."""
    fields = await web.read_fields(request)
    ids = [web.url_id(text) for text in fields.get("ids", [])]
    if not ids or len(ids) > PAGE_SIZE or None in ids:
        return web.refused("Tick one or more conversions of this page first.")
    return await _decide(staff, {k: v[0] for k, v in fields.items()}, [i for i in ids if i])


@router.post("/conversions/{conversion_id}")
async def decide(request: Request, conversion_id: int, staff: StaffDep) -> Response:
    """Approve or reject one conversion."""
    if not 1 <= conversion_id <= MAX_ID:
        return web.refused("Unknown conversion.")
    return await _decide(staff, await web.read_form(request), [conversion_id])


async def _decide(staff: Staff, form: dict[str, str], ids: list[int]) -> Response:
    """Every conversion of `ids` checked first (the staff's, attributed), then each set by
    the conversions API's own `change_status`: none changes if one may not."""
    user, pool, scope = staff.user, staff.pool, staff.scope
    if not same_token(form.get("csrf_token"), user.csrf_token):
        return web.csrf_refused()
    action = form.get("action")
    if action not in ("approve", "reject"):
        return web.refused("Unknown action.")
    wanted = list(dict.fromkeys(ids))
    status = "approved" if action == "approve" else "rejected"
    try:
        for conversion_id in wanted:
            row = await attribution.get_conversion(pool, conversion_id=conversion_id)
            if not scope.allows(row["affiliate_id"]):
                return web.not_found(user)
            if row["status"] == "unattributed":
                raise Conflict(f"Conversion {conversion_id} is unattributed: nobody to credit.")
        for conversion_id in wanted:
            await attribution.change_status(
                pool,
                conversion_id=conversion_id,
                status=status,
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
    done = f"{status}:{wanted[0]}" if len(wanted) == 1 else f"{status}:{len(wanted)}:many"
    return web.see_other(f"{target}{sep}done={done}")
