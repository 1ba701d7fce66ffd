"""The managers' affiliates: the list with the applications queue, and one affiliate's
profile (links, the last 30 days, status, group, notes). Every read and change goes
through the services the API uses (app.catalog, app.partners, app.stats); a manager sees
the affiliates assigned to them only (app.portal.scope), any other is not found."""

from __future__ import annotations

import re
from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.accounts.sessions import same_token
from app.catalog import affiliates as affiliate_service
from app.catalog import links as link_service
from app.catalog import service as catalog_service
from app.catalog.schemas import AffiliatePatch
from app.errors import AppError
from app.pagination import PageParams
from app.partners import groups, lifecycle, notes
from app.partners.fields import Status
from app.partners.history import actor_of
from app.portal import overview, web
from app.portal.manage import Staff, StaffDep, staff_of

router = APIRouter(prefix="/manage/affiliates", include_in_schema=False)

PAGE_SIZE = 50
QUEUE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(Status)
# The applications queue: what approve or reject may start from.
QUEUED = "applied"
ACTIONS: dict[str, lifecycle.Action] = {a: a for a in lifecycle.ACTIONS}
DONE_SAID = {
    "approve": "approved",
    "reject": "rejected",
    "suspend": "suspended",
    "reactivate": "reactivated",
    "group": "moved to the group chosen",
    "note": "noted",
}
_DONE = re.compile(r"^(" + "|".join(DONE_SAID) + r"):(\d{1,18})$")


def _notice(done: str | None) -> str | None:
    """What the last change was (`approve:12`), said back; anything else, nothing."""
    match = _DONE.match(done or "")
    return f"Affiliate {match[2]} {DONE_SAID[match[1]]}." if match else None


def _back(form: dict[str, str], default: str) -> str:
    """The page of ours the form came from (never another site), else `default`."""
    back = form.get("back", "")
    ours = back.startswith("/manage/affiliates") and "//" not in back and "\\" not in back
    return back if ours else default


def _done(target: str, what: str, affiliate_id: int) -> Response:
    sep = "&" if "?" in target else "?"
    return web.see_other(f"{target}{sep}done={what}:{affiliate_id}")


def _not_changed(staff: Staff, exc: AppError) -> Response:
    return web.render(
        "message.html",
        {"title": "Not changed", "message": exc.message, "user": staff.user},
        status=exc.status,
    )


@router.get("")
async def affiliates_page(request: Request, staff: StaffDep) -> Response:
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    after = web.url_id(q.get("after")) or 0
    among = staff.scope.affiliates
    listed = await affiliate_service.list_affiliates(
        staff.pool,
        page=PageParams(limit=PAGE_SIZE, cursor=str(after)),
        only_affiliate_id=None,
        status=status,
        among=among,
    )
    queue = await affiliate_service.list_affiliates(
        staff.pool,
        page=PageParams(limit=QUEUE_SIZE),
        only_affiliate_id=None,
        status=QUEUED,
        among=among,
    )
    return web.render(
        "affiliates.html",
        {
            "user": staff.user,
            "nav": "affiliates",
            "rows": listed.items,
            "queue": queue.items,
            "queue_more": queue.next_cursor is not None,
            "status": status,
            "statuses": STATUSES,
            "scope": staff.scope,
            "next_after": listed.next_cursor,
            "notice": _notice(q.get("done")),
        },
    )


async def _allowed(request: Request, text: str) -> tuple[Staff, int]:
    """The staff member and the affiliate of the URL, if theirs to see; else answered."""
    staff = await staff_of(request)
    affiliate_id = web.url_id(text)
    if affiliate_id is None or not staff.scope.allows(affiliate_id):
        raise web.PageAnswer(web.not_found(staff.user))
    return staff, affiliate_id


@router.get("/{affiliate_text}")
async def profile_page(request: Request, affiliate_text: str) -> Response:
    staff, affiliate_id = await _allowed(request, affiliate_text)
    pool, user = staff.pool, staff.user
    try:
        affiliate = await affiliate_service.get_affiliate(pool, affiliate_id=affiliate_id)
    except AppError:
        return web.not_found(user)
    links = await link_service.list_links(
        pool,
        query=link_service.LinkQuery(affiliate_id=affiliate_id, limit=100),
        public_url=web.state(request).settings.public_url,
    )
    known = await notes.list_notes(pool, affiliate_id=affiliate_id, page=PageParams(limit=100))
    all_groups = await groups.list_groups(pool, page=PageParams(limit=500))
    stats = await overview.last_days(
        pool, staff.scope.principal, zone=user.time_zone, affiliate_id=affiliate_id
    )
    possible = [a for a, move in lifecycle.ACTIONS.items() if affiliate.status in move.allowed_from]
    return web.render(
        "affiliate.html",
        {
            "user": user,
            "nav": "affiliates",
            "a": affiliate,
            "links": links.items,
            "notes": known.items,
            "groups": all_groups.items,
            "group_names": {g.id: g.name for g in all_groups.items},
            "stats": stats,
            "actions": possible,
            "notice": _notice(request.query_params.get("done")),
        },
    )


async def _form(request: Request, text: str) -> tuple[Staff, int, dict[str, str]]:
    """A change's form, if its sender may see the affiliate and the token is theirs."""
    staff, affiliate_id = await _allowed(request, text)
    form = await web.read_form(request)
    if not same_token(form.get("csrf_token"), staff.user.csrf_token):
        raise web.PageAnswer(web.csrf_refused())
    return staff, affiliate_id, form


@router.post("/{affiliate_text}/status")
async def change_status(request: Request, affiliate_text: str) -> Response:
    """approve, reject, suspend or reactivate, by the lifecycle the API's actions use."""
    staff, affiliate_id, form = await _form(request, affiliate_text)
    action = form.get("action", "")
    if action not in ACTIONS:
        return web.refused("Unknown action.")
    try:
        async with staff.pool.acquire() as conn:
            await lifecycle.apply_action(
                conn,
                affiliate_id=affiliate_id,
                action=ACTIONS[action],
                actor=actor_of(staff.scope.principal),
                reason=form.get("reason") or None,
            )
    except AppError as exc:
        return _not_changed(staff, exc)
    # The affiliate's links divert (or stop diverting) in every process.
    await catalog_service.notify_changed(web.state(request).redis)
    return _done(_back(form, f"/manage/affiliates/{affiliate_id}"), action, affiliate_id)


@router.post("/{affiliate_text}/group")
async def change_group(request: Request, affiliate_text: str) -> Response:
    staff, affiliate_id, form = await _form(request, affiliate_text)
    chosen = form.get("group_id", "")
    group_id = web.url_id(chosen)
    if chosen and group_id is None:
        return web.refused("Unknown group.")
    patch = AffiliatePatch.model_validate({"group_id": group_id})
    try:
        async with staff.pool.acquire() as conn:
            await affiliate_service.update_affiliate(
                conn,
                affiliate_id=affiliate_id,
                body=patch,
                actor=actor_of(staff.scope.principal),
            )
    except AppError as exc:
        return _not_changed(staff, exc)
    return _done(f"/manage/affiliates/{affiliate_id}", "group", affiliate_id)


@router.post("/{affiliate_text}/notes")
async def add_note(request: Request, affiliate_text: str) -> Response:
    staff, affiliate_id, form = await _form(request, affiliate_text)
    try:
        body = notes.NoteIn(text=form.get("text", "").strip())
    except ValidationError:
        return web.render(
            "message.html",
            {
                "title": "Not noted",
                "message": "A note needs some text (10,000 characters at most).",
                "user": staff.user,
            },
            status=400,
        )
    try:
        await notes.add_note(
            staff.pool, affiliate_id=affiliate_id, author_key_id=staff.user.key_id, body=body
        )
    except AppError as exc:
        return _not_changed(staff, exc)
    return _done(f"/manage/affiliates/{affiliate_id}", "note", affiliate_id)


def manager_label(manager_id: int | None, staff_key: int | None) -> str:
    if manager_id is None:
        return "none"
    return "you" if manager_id == staff_key else f"key {manager_id}"


web.templates.globals["manager_label"] = manager_label
