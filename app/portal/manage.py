"""The managers' console: who is signed in as staff, and the overview (the conversions
log and records are app/portal/conversions.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.accounts.sessions import same_token
from app.portal import overview, web
from app.portal.scope import Scope, staff_scope

router = APIRouter(prefix="/manage", include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Staff(web.Member):
    """A signed-in owner or manager, with what they may see."""

    scope: Scope


async def staff_of(request: Request) -> Staff:
    """The staff member signed in; anyone else is answered (sign-in page, 404)."""
    user = await web.member(request, staff=True)
    pool = web.state(request).pool
    return Staff(user, pool, await staff_scope(pool, user))


StaffDep = Annotated[Staff, Depends(staff_of)]


def _chart_json(data: dict[str, Any]) -> str:
    # In a <script type="application/json">: data, never run; "</" cannot close it early.
    return orjson.dumps(data).decode().replace("</", "<\\/")


@router.get("")
async def overview_page(request: Request, staff: StaffDep) -> Response:
    user, pool, scope = staff.user, staff.pool, staff.scope
    affiliate = web.url_id(request.query_params.get("affiliate"))
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


def owner_only(staff: Staff) -> None:
    """Owners' screens (people, keys): to anyone else, a page that is not there."""
    if staff.user.role != "owner":
        raise web.PageAnswer(web.not_found(staff.user))


async def staff_fields(request: Request, staff: Staff) -> dict[str, list[str]]:
    """A staff member's posted form, every value of each field, its CSRF token checked
    (else a 403 page)."""
    fields = await web.read_fields(request)
    if not same_token(fields.get("csrf_token", [""])[0], staff.user.csrf_token):
        raise web.PageAnswer(web.csrf_refused())
    return fields


async def staff_form(request: Request, staff: Staff) -> dict[str, str]:
    """The same, the first value of each field."""
    return {k: v[0] for k, v in (await staff_fields(request, staff)).items()}


def not_changed(staff: Staff, message: str, status: int) -> Response:
    """A refused change, said in words: the service's message and status."""
    body = {"title": "Not changed", "message": message, "user": staff.user}
    return web.render("message.html", body, status=status)
