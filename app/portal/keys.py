"""API keys (owners only): the list, a new key (its secret shown once, on the page the
form answers with), revoking one; by the keys API's own service functions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts import users
from app.errors import AppError
from app.keys import service as keys_service
from app.keys.schemas import CreatedKey, Role
from app.pagination import PageParams
from app.portal import web
from app.portal.manage import Staff, StaffDep, not_changed, owner_only, staff_form

router = APIRouter(prefix="/manage/keys", include_in_schema=False)

SHOWN = 200
ROLES: tuple[Role, ...] = ("admin", "affiliate")
MAX_NAME = 200
_DONE = re.compile(r"^revoked:(\d{1,18})$")


async def _page(staff: Staff, *, made: CreatedKey | None, notice: str | None) -> Response:
    listed = await keys_service.list_keys(staff.pool, page=PageParams(limit=SHOWN))
    people = await users.list_users(staff.pool, cursor=None, limit=SHOWN)
    context: dict[str, Any] = {"made": made, "notice": notice, "roles": ROLES, "keys": listed.items}
    # A staff member's identity key (revoked when made) is named after them.
    context["identities"] = {p.key_id: p.email for p in people.items if p.key_id is not None}
    return web.render(
        "keys.html",
        {**context, "user": staff.user, "nav": "keys", "more": listed.next_cursor is not None},
        status=201 if made else 200,
    )


@router.get("")
async def keys_page(request: Request, staff: StaffDep) -> Response:
    owner_only(staff)
    match = _DONE.match(request.query_params.get("done") or "")
    return await _page(staff, made=None, notice=f"Key {match[1]} revoked." if match else None)


@router.post("")
async def create(request: Request, staff: StaffDep) -> Response:
    """A new key; the page it answers with is the only place its secret is shown."""
    owner_only(staff)
    form = await staff_form(request, staff)
    role = form.get("role", "")
    name = form.get("name", "").strip() or None
    affiliate_text = form.get("affiliate_id", "").strip()
    affiliate_id = web.url_id(affiliate_text)
    if role not in ROLES or (affiliate_text and affiliate_id is None):
        return not_changed(staff, "Choose a role (and an affiliate's ID for its key).", 400)
    if name is not None and len(name) > MAX_NAME:
        return not_changed(staff, f"A name has at most {MAX_NAME} characters.", 400)
    try:
        made = await keys_service.create_key(
            staff.pool,
            role="admin" if role == "admin" else "affiliate",
            affiliate_id=affiliate_id,
            name=name,
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return await _page(staff, made=made, notice=None)


@router.post("/{key_text}")
async def revoke(request: Request, key_text: str, staff: StaffDep) -> Response:
    owner_only(staff)
    form = await staff_form(request, staff)
    key_id = web.url_id(key_text)
    if key_id is None or form.get("action") != "revoke":
        return web.refused("Unknown key or action.")
    try:
        await keys_service.revoke_key(staff.pool, key_id=key_id)
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/keys?done=revoked:{key_id}")
