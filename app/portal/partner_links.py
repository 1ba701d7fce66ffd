"""The affiliates' offers and links: the offers open to them with their own payout, their
links, and a generator that makes a link by the links API's own service."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.accounts.sessions import same_token
from app.attribution import service as attribution
from app.catalog import links as link_service
from app.catalog import offers as offer_service
from app.catalog import service as catalog_service
from app.catalog.schemas import LinkOut, OfferOut
from app.db import Pool
from app.errors import AppError, Forbidden
from app.keys.service import Principal
from app.macros import MACRO, SUB_IDS
from app.pagination import MAX_LIMIT
from app.portal import web

router = APIRouter(prefix="/partner", include_in_schema=False)

# The tracking link's query parameters an affiliate may fill (GET /c/{code}); the
# redirect stores up to this many characters of each.
LINK_PARAMS = (*SUB_IDS, "source")
MAX_PARAM = 1024
# Open to every active affiliate: the active offers (a paused one sends its visitors to
# the fallback, an archived one takes no new links). The catalog has no private offers
# nor access requests yet.
OPEN_STATUS = "active"


@dataclass(frozen=True, slots=True)
class Affiliate(web.Member):
    """A signed-in, active affiliate user, with the API's principal for it."""

    principal: Principal


async def _affiliate(request: Request) -> Affiliate:
    """The active affiliate user signed in; anyone else is answered."""
    user = await web.member(request, staff=False)
    try:
        principal = user.principal()
    except Forbidden as exc:
        inactive = {"title": "Account not active", "message": exc.message, "user": user}
        raise web.PageAnswer(web.render("message.html", inactive, status=403)) from exc
    return Affiliate(user, web.state(request).pool, principal)


AffiliateDep = Annotated[Affiliate, Depends(_affiliate)]


def _preview(offer: OfferOut) -> str:
    """The offer's landing page to look at: its URL without the query and fragment, where
    the advertiser's macros and tracking parameters are."""
    parts = urlsplit(offer.url)
    return urlunsplit((parts.scheme, parts.netloc, MACRO.sub("", parts.path), "", ""))


async def _open_offers(pool: Pool, affiliate_id: int) -> list[dict[str, Any]]:
    page = await offer_service.list_offers(
        pool, query=offer_service.OfferQuery(limit=MAX_LIMIT, status=OPEN_STATUS)
    )
    payouts = await attribution.affiliate_payouts(
        pool, affiliate_id=affiliate_id, offer_ids=[o.id for o in page.items]
    )
    return [
        {
            "id": o.id,
            "name": o.name,
            "currency": o.currency,
            "payout_type": payouts[o.id][0],
            "payout_value": payouts[o.id][1],
            "preview": _preview(o),
            "hold_days": o.hold_days,
        }
        for o in page.items
    ]


def tracking_url(base: str, params: dict[str, str]) -> str:
    """The link's URL with the sub-IDs given; braces stay as they are, so a traffic
    source's own macros ({clickid}) survive in them."""
    query = "&".join(f"{k}={quote(v, safe='{}')}" for k, v in params.items() if v)
    return f"{base}?{query}" if query else base


@router.get("/offers")
async def offers_page(request: Request, me: AffiliateDep) -> Response:
    offers = await _open_offers(me.pool, me.principal.affiliate_id or 0)
    return web.render("partner_offers.html", {"user": me.user, "nav": "offers", "offers": offers})


async def _links_page(
    request: Request,
    me: Affiliate,
    *,
    made: dict[str, Any] | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    resources = web.state(request)
    links = await link_service.list_links(
        me.pool,
        query=link_service.LinkQuery(limit=MAX_LIMIT).scoped(me.principal),
        public_url=resources.settings.public_url,
    )
    offers = await _open_offers(me.pool, me.principal.affiliate_id or 0)
    names = {o["id"]: o["name"] for o in offers}
    return web.render(
        "partner_links.html",
        {
            "user": me.user,
            "nav": "links",
            "links": links.items,
            "offers": offers,
            "names": names,
            "params": LINK_PARAMS,
            "max_param": MAX_PARAM,
            "made": made,
            "error": error,
            "form": form or {},
            "request_offer": request.query_params.get("offer", ""),
        },
        status=status,
    )


@router.get("/links")
async def links_page(request: Request, me: AffiliateDep) -> Response:
    return await _links_page(request, me)


@router.get("/links/{link_id}")
async def link_page(request: Request, link_id: str, me: AffiliateDep) -> Response:
    """One link's tracking URL, with the sub-IDs of the query filled in."""
    shown = await shown_link(request, link_id, me.principal.require_affiliate_access)
    if shown is None:
        return web.not_found(me.user)
    return await _links_page(request, me, made=shown, form=shown["params"])


async def shown_link(
    request: Request, link_text: str, require_access: Callable[[int], None]
) -> dict[str, Any] | None:
    """The link of the URL with its tracking URL carrying the sub-IDs of the query, or None
    when there is none or `require_access` refuses its affiliate (the same answer)."""
    found = web.url_id(link_text)
    if found is None:
        return None
    resources = web.state(request)
    try:
        link = await link_service.get_link(
            resources.pool, link_id=found, public_url=resources.settings.public_url
        )
        require_access(link.affiliate_id)
    except AppError:
        return None
    params = {k: request.query_params.get(k, "")[:MAX_PARAM] for k in LINK_PARAMS}
    return {"link": link, "url": tracking_url(link.tracking_url, params), "params": params}


def link_params(form: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The sub-IDs and source a generator's form gives, and what is wrong with them."""
    params = {k: form.get(k, "") for k in LINK_PARAMS}
    if any(len(v) > MAX_PARAM for v in params.values()):
        return params, f"Each sub-ID is at most {MAX_PARAM:,} characters."
    return params, None


@router.post("/links")
async def generate(request: Request, me: AffiliateDep) -> Response:
    """The generator: the affiliate's active link on the offer, or a new one made by the
    links API's service; then its page with the sub-IDs in the URL."""
    form = await web.read_form(request)
    if not same_token(form.get("csrf_token"), me.user.csrf_token):
        return web.csrf_refused()
    params, error = link_params(form)
    offer_id = web.url_id(form.get("offer_id"))
    if error:
        return await _links_page(request, me, error=error, form=form, status=400)
    affiliate_id = me.principal.affiliate_id or 0
    if offer_id is None or await offer_service.offer_status(me.pool, offer_id=offer_id) != (
        OPEN_STATUS
    ):
        error = "Choose one of the offers open to you."
        return await _links_page(request, me, error=error, form=form, status=400)
    try:
        link = await made_link(request, affiliate_id=affiliate_id, offer_id=offer_id)
    except AppError as exc:
        return await _links_page(request, me, error=exc.message, form=form, status=exc.status)
    return web.see_other(link_page_path(f"/partner/links/{link.id}", params))


async def made_link(request: Request, *, affiliate_id: int, offer_id: int) -> LinkOut:
    """The affiliate's link on the offer, by the links service (made if none is active);
    the redirect caches of every process hear of a new code."""
    resources = web.state(request)
    link, made = await link_service.link_for(
        resources.pool,
        affiliate_id=affiliate_id,
        offer_id=offer_id,
        public_url=resources.settings.public_url,
    )
    if made:
        await catalog_service.notify_changed(resources.redis)
    return link


def link_page_path(path: str, params: dict[str, str]) -> str:
    """A link's page with the sub-IDs given in its query (each URL-encoded)."""
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items() if v)
    return path + (f"?{query}" if query else "")
