"""The people who sign in (owners only): the list, an invite by e-mail, disabling and
enabling someone; by the users API's own service functions."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.accounts import users
from app.accounts.schemas import UserIn, UserPatch
from app.errors import AppError
from app.portal import web
from app.portal.manage import Staff, StaffDep, not_changed, owner_only, staff_form

router = APIRouter(prefix="/manage/users", include_in_schema=False)

SHOWN = 200
NEEDED = "An e-mail address and a role (an affiliate's ID for an affiliate user) are needed."
_DONE = re.compile(r"^(invited|disabled|enabled):(\d{1,18})$")


async def _form(request: Request, staff: Staff) -> dict[str, str]:
    owner_only(staff)  # managers manage affiliates, not people
    return await staff_form(request, staff)


@router.get("")
async def users_page(request: Request, staff: StaffDep) -> Response:
    owner_only(staff)
    listed = await users.list_users(staff.pool, cursor=None, limit=SHOWN)
    match = _DONE.match(request.query_params.get("done") or "")
    return web.render(
        "users.html",
        {
            "user": staff.user,
            "nav": "users",
            "people": listed.items,
            "more": listed.next_cursor is not None,
            "notice": f"User {match[2]} {match[1]}." if match else None,
        },
    )


@router.post("")
async def invite(request: Request, staff: StaffDep) -> Response:
    form = await _form(request, staff)
    try:
        body = UserIn(
            email=form.get("email", ""),
            name=form.get("name") or None,
            role=form.get("role", ""),  # type: ignore[arg-type]
            affiliate_id=web.url_id(form.get("affiliate_id")),
        )
    except ValidationError:
        return not_changed(
            staff,
            "An e-mail address and a role (an affiliate's ID for an affiliate user) are needed.",
            400,
        )
    try:
        async with staff.pool.acquire() as conn:
            made = await users.create_and_invite(conn, body=body, actor=staff.user.actor)
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/users?done=invited:{made.id}")


@router.post("/{user_text}")
async def enable_or_disable(request: Request, user_text: str, staff: StaffDep) -> Response:
    form = await _form(request, staff)
    user_id = web.url_id(user_text)
    action = form.get("action")
    if user_id is None or action not in ("disable", "enable"):
        return web.refused("Unknown user or action.")
    if user_id == staff.user.id:
        return not_changed(staff, "You cannot disable yourself.", 409)
    try:
        async with staff.pool.acquire() as conn:
            patch = UserPatch(disabled=action == "disable")
            await users.update_user(conn, user_id=user_id, body=patch, actor=staff.user.actor)
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/users?done={action}d:{user_id}")
