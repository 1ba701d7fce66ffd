"""What every portal page shares: templates, the strict policy, cookies, forms, CSRF and
who is signed in."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from app import assets
from app.accounts import sessions
from app.accounts.sessions import SessionUser
from app.proxies import TrustedProxies
from app.state import AppState

# No inline script or style anywhere: every script and sheet is a file of this origin.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {**assets.headers(POLICY, cache_control="no-store"), "Vary": "Cookie"}
# The CSRF token of pages shown before sign-in (double submit: cookie and form field).
FORM_COOKIE = "tracker_form"
MAX_FORM_BYTES = 16_384

_STATIC = files("app.portal") / "static"
_ASSET_FILES = {
    "portal.css": assets.CSS,
    "portal.js": assets.JAVASCRIPT,
    "vendor/uPlot.iife.min.js": assets.JAVASCRIPT,
    "vendor/uPlot.min.css": assets.CSS,
}
# Each asset under a path naming its content: cached for a year, changed with its name.
ASSET_CONTENT = {name: (_STATIC / name).read_bytes() for name in _ASSET_FILES}
ASSET_PATHS = {
    name: f"/portal/assets/{hashlib.sha256(body).hexdigest()[:12]}/{name}"
    for name, body in ASSET_CONTENT.items()
}
ASSET_TYPES = _ASSET_FILES


NO_VALUE = "\N{EN DASH}"
MINUS = "\N{MINUS SIGN}"


def _number(value: object) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, int):
        return f"{value:,}"
    return f"{Decimal(str(value)):,.2f}"


def _money(value: object, currency: str | None) -> str:
    if value is None:
        return NO_VALUE
    amount = Decimal(str(value))
    text = f"{abs(amount):,.2f} {currency or ''}".strip()
    return f"{MINUS}{text}" if amount < 0 else text


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


templates = Environment(
    loader=PackageLoader("app.portal", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["asset"] = ASSET_PATHS.__getitem__
templates.filters.update(number=_number, money=_money, local=_local, utc=_utc)


def render(
    name: str,
    context: Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    body = templates.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def state(request: Request) -> AppState:
    return AppState.of(request.app)


def client_ip(request: Request) -> str:
    settings = state(request).settings
    peer = request.client.host if request.client else ""
    return TrustedProxies(settings.trusted_proxies).client_ip(
        peer, request.headers.get("x-forwarded-for")
    )


def is_https(request: Request) -> bool:
    """HTTPS as the browser sees it: this server's scheme, or a trusted proxy's word."""
    settings = state(request).settings
    peer = request.client.host if request.client else ""
    origin = TrustedProxies(settings.trusted_proxies).origin(
        peer,
        scheme=request.url.scheme,
        host=request.url.netloc,
        forwarded_proto=request.headers.get("x-forwarded-proto"),
        forwarded_host=None,
    )
    return origin.startswith("https://")


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form's fields (the first value of each); anything else is empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items() if v}


async def signed_in(request: Request) -> SessionUser | None:
    return await sessions.find(state(request).pool, request.cookies.get(sessions.SESSION_COOKIE))


def form_token(request: Request) -> tuple[str, bool]:
    """The pre-sign-in form token: the cookie's, or a new one (True: set the cookie)."""
    current = request.cookies.get(FORM_COOKIE)
    if current and 20 <= len(current) <= 100:
        return current, False
    return secrets.token_urlsafe(32), True


def form_token_ok(request: Request, form: Mapping[str, str]) -> bool:
    cookie = request.cookies.get(FORM_COOKIE)
    return cookie is not None and sessions.same_token(form.get("csrf_token"), cookie)


def refused(reason: str) -> HTMLResponse:
    return render(
        "message.html",
        {"title": "Request refused", "message": reason, "user": None},
        status=403,
    )


def csrf_refused() -> HTMLResponse:
    return refused(
        "This form was sent without its security token (or with an old one). Go back, "
        "reload the page and send it again."
    )


def not_found(user: SessionUser | None) -> HTMLResponse:
    return render(
        "message.html",
        {"title": "Not found", "message": "No such page, or it is not yours.", "user": user},
        status=404,
    )
