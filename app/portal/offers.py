"""The managers' offers: the list, and an offer made or changed with everything the offers
API takes, paused and activated, by its own services (app.catalog.offers) and validation
(app.portal.offer_form). Offers are the program's, not an affiliate's: owners create and
change them; a manager reads them (without other managers' affiliates' overrides and caps)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts.sessions import same_token
from app.catalog import advertisers as advertiser_service
from app.catalog import offers as offer_service
from app.catalog import service as catalog_service
from app.catalog.schemas import OfferIn, OfferOut, OfferPatch
from app.currencies import MINOR_UNITS
from app.errors import AppError
from app.pagination import MAX_LIMIT, PageParams
from app.portal import offer_form, web
from app.portal.manage import Staff, StaffDep
from app.portal.offer_form import OfferForm

router = APIRouter(prefix="/manage/offers", include_in_schema=False)

PAGE_SIZE = 50
STATUSES = ("active", "paused", "archived")
# Room for the API's longest lists (10,000 payout overrides) in one form.
FORM_BYTES = 2_000_000
CURRENCIES = sorted(MINOR_UNITS)
MOVES = {"pause": "paused", "activate": "active"}
DONE_SAID = {"created": "created", "saved": "saved", "paused": "paused", "active": "activated"}
_DONE = re.compile(r"^(" + "|".join(DONE_SAID) + r")$")
OWNERS_ONLY = "Offers are the program's: only an owner creates or changes them."


async def _advertisers(staff: Staff, request: Request, *, status: str | None) -> dict[int, str]:
    listed = await advertiser_service.list_advertisers(
        staff.pool,
        page=PageParams(limit=MAX_LIMIT),
        status=status,
        public_url=web.state(request).settings.public_url,
    )
    return {a.id: a.name for a in listed.items}


def _owner(staff: Staff) -> None:
    if staff.user.role != "owner":
        raise web.PageAnswer(web.refused(OWNERS_ONLY))


async def _form_fields(request: Request, staff: Staff) -> dict[str, str]:
    """An owner's form, with its token; anyone else's is refused."""
    _owner(staff)
    fields = {k: v[0] for k, v in (await web.read_fields(request, limit=FORM_BYTES)).items()}
    if not same_token(fields.get("csrf_token"), staff.user.csrf_token):
        raise web.PageAnswer(web.csrf_refused())
    return fields


@router.get("")
async def offers_page(request: Request, staff: StaffDep) -> Response:
    status, after = web.list_position(request, STATUSES)
    listed = await offer_service.list_offers(
        staff.pool,
        query=offer_service.OfferQuery(limit=PAGE_SIZE, cursor=str(after), status=status),
    )
    return web.render(
        "offers.html",
        {
            "user": staff.user,
            "nav": "offers",
            "rows": [offer_service.seen_by(o, staff.scope.principal) for o in listed.items],
            "advertisers": await _advertisers(staff, request, status=None),
            "status": status,
            "statuses": STATUSES,
            "next_after": listed.next_cursor,
            "can_edit": staff.user.role == "owner",
            "notice": _notice(request.query_params.get("done")),
        },
    )


async def _form_page(
    request: Request,
    staff: Staff,
    form: OfferForm,
    *,
    offer: OfferOut | None,
    status: int = 200,
) -> Response:
    advertisers = await _advertisers(staff, request, status=None if offer else "active")
    choices = [(str(a), f"{name} ({a})") for a, name in advertisers.items()]
    return web.render(
        "offer.html",
        {
            "user": staff.user,
            "nav": "offers",
            "offer": offer,
            "form": form,
            "advertisers": advertisers,
            "advertiser_options": [("", "Choose one"), *choices],
            "currencies": [(c, c) for c in CURRENCIES],
            "can_edit": staff.user.role == "owner",
            "notice": _notice(request.query_params.get("done")),
        },
        status=status,
    )


def _notice(done: str | None) -> str | None:
    match = _DONE.match(done or "")
    return f"Offer {DONE_SAID[match[1]]}." if match else None


@router.get("/new")
async def new_offer_page(request: Request, staff: StaffDep) -> Response:
    if staff.user.role != "owner":
        return web.not_found(staff.user)
    return await _form_page(request, staff, offer_form.new_form(), offer=None)


async def _saved(request: Request, offer_id: int, done: str) -> Response:
    # The redirect and postback caches of every process hear of the change.
    await catalog_service.notify_changed(web.state(request).redis)
    return web.see_other(f"/manage/offers/{offer_id}?done={done}")


@router.post("")
async def create(request: Request, staff: StaffDep) -> Response:
    form = offer_form.submitted(await _form_fields(request, staff))
    body = offer_form.validated(form, creating=True)
    if body is None:
        return await _form_page(request, staff, form, offer=None, status=400)
    assert isinstance(body, OfferIn)
    try:
        async with staff.pool.acquire() as conn:
            made = await offer_service.create_offer(conn, body=body)
    except AppError as exc:
        offer_form.refused(form, exc)
        return await _form_page(request, staff, form, offer=None, status=exc.status)
    return await _saved(request, made.id, "created")


async def _offer(staff: Staff, text: str) -> OfferOut:
    """The offer of the URL; none is a 404 page."""
    offer_id = web.url_id(text)
    if offer_id is not None:
        try:
            return await offer_service.get_offer(staff.pool, offer_id=offer_id)
        except AppError:
            pass
    raise web.PageAnswer(web.not_found(staff.user))


@router.get("/{offer_text}")
async def offer_page(request: Request, offer_text: str, staff: StaffDep) -> Response:
    offer = offer_service.seen_by(await _offer(staff, offer_text), staff.scope.principal)
    # Rows to fill in for an owner; a manager reads what there is.
    spare = offer_form.SPARE_ROWS if staff.user.role == "owner" else 0
    return await _form_page(request, staff, offer_form.offer_form(offer, spare=spare), offer=offer)


async def _update(staff: Staff, offer: OfferOut, body: OfferPatch) -> AppError | None:
    try:
        async with staff.pool.acquire() as conn:
            await offer_service.update_offer(conn, offer_id=offer.id, body=body)
    except AppError as exc:
        return exc
    return None


@router.post("/{offer_text}")
async def save(request: Request, offer_text: str, staff: StaffDep) -> Response:
    fields = await _form_fields(request, staff)
    offer = await _offer(staff, offer_text)
    form = offer_form.submitted(fields)
    body = offer_form.validated(form, creating=False)
    if body is None:
        return await _form_page(request, staff, form, offer=offer, status=400)
    assert isinstance(body, OfferPatch)
    refusal = await _update(staff, offer, body)
    if refusal is not None:
        offer_form.refused(form, refusal)
        return await _form_page(request, staff, form, offer=offer, status=refusal.status)
    return await _saved(request, offer.id, "saved")


@router.post("/{offer_text}/status")
async def pause_or_activate(request: Request, offer_text: str, staff: StaffDep) -> Response:
    fields = await _form_fields(request, staff)
    offer = await _offer(staff, offer_text)
    status = MOVES.get(fields.get("action", ""))
    if status is None:
        return web.refused("Unknown action.")
    refusal = await _update(staff, offer, OfferPatch.model_validate({"status": status}))
    if refusal is not None:
        context: dict[str, Any] = {"title": "Not changed", "message": refusal.message}
        return web.render("message.html", {**context, "user": staff.user}, status=refusal.status)
    return await _saved(request, offer.id, status)
