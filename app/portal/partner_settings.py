"""The affiliates' settings (/partner/settings): their postback (with a test), their
profile and their payment details (shown masked), each saved by the API's own service
(`update_affiliate` with the affiliate's own rights, `set_payment`, `try_postback`)."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from app.accounts.sessions import same_token
from app.catalog import affiliates as affiliate_service
from app.catalog import service as catalog_service
from app.catalog.schemas import AffiliatePatch
from app.errors import AppError, first_problem
from app.partners import profile
from app.partners.fields import COUNTRIES, Contact, Payment
from app.partners.history import actor_of
from app.portal import web
from app.portal.partner_links import Affiliate, AffiliateDep
from app.sender import trial

router = APIRouter(prefix="/partner/settings", include_in_schema=False)

CHANNELS = get_args(Contact.model_fields["channel"].annotation)
PAYMENT_FIELDS = ("method", "email", "account_holder", "iban", "account_number", "bic")
_PAYMENT = TypeAdapter(Payment)
NOTICES = {"postback": "Postback saved.", "profile": "Profile saved.", "payment": "Saved."}


async def _page(
    request: Request,
    me: Affiliate,
    *,
    error: tuple[str, str] | None = None,
    tried: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    affiliate = await affiliate_service.get_affiliate(me.pool, affiliate_id=_id(me))
    saved = request.query_params.get("saved", "")
    context = {
        "user": me.user,
        "nav": "settings",
        "a": affiliate,
        "countries": COUNTRIES,
        "channels": CHANNELS,
        "notice": NOTICES.get(saved),
        "error": error,
        "tried": tried,
    }
    return web.render("partner_settings.html", context, status=status)


def _id(me: Affiliate) -> int:
    return me.principal.affiliate_id or 0


async def _form(request: Request, me: Affiliate) -> dict[str, str] | None:
    form = await web.read_form(request)
    return form if same_token(form.get("csrf_token"), me.user.csrf_token) else None


@router.get("")
async def settings_page(request: Request, me: AffiliateDep) -> Response:
    return await _page(request, me)


async def _save(request: Request, me: Affiliate, section: str, fields: dict[str, Any]) -> Response:
    """PATCH the affiliate as its own key would; the page again with what was wrong."""
    try:
        body = AffiliatePatch.model_validate(fields)
        async with me.pool.acquire() as conn:
            await affiliate_service.update_affiliate(
                conn,
                affiliate_id=_id(me),
                body=body,
                actor=actor_of(me.principal),
                allowed_networks=web.state(request).settings.sender_allowed_networks,
            )
    except ValidationError as exc:
        return await _page(request, me, error=(section, first_problem(exc)), status=400)
    except AppError as exc:
        return await _page(request, me, error=(section, exc.message), status=exc.status)
    await catalog_service.notify_changed(web.state(request).redis)
    return web.see_other(f"/partner/settings?saved={section}#{section}")


@router.post("/postback")
async def save_postback(request: Request, me: AffiliateDep) -> Response:
    form = await _form(request, me)
    if form is None:
        return web.csrf_refused()
    fields = {
        "postback_url": form.get("postback_url", "").strip() or None,
        "postback_method": form.get("postback_method") or "GET",
        "postback_on": form.get("postback_on") or "approved",
    }
    return await _save(request, me, "postback", fields)


@router.post("/postback/test")
async def test_postback(request: Request, me: AffiliateDep) -> Response:
    if await _form(request, me) is None:
        return web.csrf_refused()
    affiliate = await affiliate_service.get_affiliate(me.pool, affiliate_id=_id(me))
    try:
        resources = web.state(request)
        url, method, attempt = await trial.try_postback(
            resources.settings, resources.redis, affiliate.model_dump()
        )
    except AppError as exc:
        return await _page(request, me, error=("postback", exc.message), status=exc.status)
    tried = {"url": url, "method": method, "attempt": attempt}
    return await _page(request, me, tried=tried)


@router.post("/profile")
async def save_profile(request: Request, me: AffiliateDep) -> Response:
    form = await _form(request, me)
    if form is None:
        return web.csrf_refused()
    handle = form.get("contact_handle", "").strip()
    fields = {
        "company": form.get("company", "").strip() or None,
        "website": form.get("website", "").strip() or None,
        "country": form.get("country") or None,
        "contact": {"channel": form.get("contact_channel"), "handle": handle} if handle else None,
    }
    return await _save(request, me, "profile", fields)


@router.post("/payment")
async def save_payment(request: Request, me: AffiliateDep) -> Response:
    form = await _form(request, me)
    if form is None:
        return web.csrf_refused()
    given = {name: form[name].strip() for name in PAYMENT_FIELDS if form.get(name, "").strip()}
    try:
        body = _PAYMENT.validate_python(given)
        await profile.set_payment(
            me.pool,
            affiliate_id=_id(me),
            body=body,
            cipher=web.state(request).payment_cipher,
        )
    except ValidationError as exc:
        return await _page(request, me, error=("payment", first_problem(exc)), status=400)
    except AppError as exc:
        return await _page(request, me, error=("payment", exc.message), status=exc.status)
    return web.see_other("/partner/settings?saved=payment#payment")
