"""What every portal page shares: templates, the strict policy, cookies, forms, CSRF and
who is signed in."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, unquote
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from app import assets, locales
from app.accounts import sessions
from app.accounts.sessions import SessionUser
from app.db import Pool
from app.patterns import MAX_ID
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


def _reader(context: Context) -> str:
    """The locale of the page's reader: the signed-in user's, else the default. (A macro
    sees the page's `user` only when imported `with context`.)"""
    user = context.get("user")
    return getattr(user, "locale", None) or locales.DEFAULT


@pass_context
def _number(context: Context, value: object, locale: str | None = None) -> str:
    """A count as is, any other number with two places; in `locale`, else the reader's."""
    if value is None:
        return NO_VALUE
    if isinstance(value, int):
        return locales.count(value, locale or _reader(context))
    return locales.decimal(Decimal(str(value)), locale or _reader(context))


@pass_context
def _money(context: Context, value: object, currency: str | None) -> str:
    if value is None:
        return NO_VALUE
    amount = Decimal(str(value))
    text = locales.money(amount, currency, _reader(context))
    return f"{MINUS}{text}" if amount < 0 else text


@pass_context
def _cell(context: Context, value: object, kind: str, currency: str | None) -> str:
    """A stats table's metric: a count, a rate in percent, else money in `currency` (a
    filter rather than a macro: a table of 1,000 rows has 10,000 of them)."""
    if kind == "count":
        return str(_number(context, value))
    if kind == "rate":
        text = str(_number(context, value))
        return text if value is None else f"{text} %"
    return str(_money(context, value, currency))


def _escape(text: str) -> str:
    """`text` escaped as the templates escape it (markupsafe's entities), in C's replace."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


@pass_context
def _stats_cells(
    context: Context, row: Mapping[str, Any], columns: list[str], kinds: Mapping[str, str]
) -> Markup:
    """A stats table row's cells: each metric a number cell with its value (data-value) and
    its text as the `cell` filter writes it, any other column its text (a title too, as the
    cell clips it; "none" for no value). One Python loop rather than the template's, with
    the reader's locale looked up once a row: a table of 1,000 rows has 10,000 cells, and
    the template's per-cell code was most of the page's time."""
    out = []
    locale = _reader(context)
    currency = row.get("currency")
    for column in columns:
        value = row[column]
        raw = "" if value is None else str(value) if type(value) is int else _escape(str(value))
        kind = kinds.get(column)
        if kind is None:
            out.append(
                f'<td class="clip" title="{raw}">{raw if value is not None else "none"}</td>'
            )
            continue
        if value is None:
            text = NO_VALUE
        elif kind == "count" or kind == "rate":
            text = (
                locales.count(value, locale)
                if isinstance(value, int)
                else locales.decimal(Decimal(str(value)), locale)
            )
            text = f"{text} %" if kind == "rate" else text
        else:
            amount = Decimal(str(value))
            text = locales.money(amount, currency, locale)
            text = f"{MINUS}{text}" if amount < 0 else text
        out.append(
            f'<td class="num" data-metric="{column}" data-value="{raw}">{_escape(text)}</td>'
        )
    return Markup("".join(out))


def _local(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _when(moment: datetime, zone: str) -> Markup:
    """The `when` macro's <time> (_tables.html) as a filter, for long tables: a macro call
    costs the template several times a filter's."""
    local = _local(moment, zone)
    return Markup(f'<time datetime="{moment.isoformat()}" title="{_utc(moment)}">{local}</time>')


templates = Environment(
    loader=PackageLoader("app.portal", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.globals["asset"] = ASSET_PATHS.__getitem__
templates.filters.update(
    number=_number,
    money=_money,
    cell=_cell,
    stats_cells=_stats_cells,
    local=_local,
    utc=_utc,
    when=_when,
)


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
    return {k: v[0] for k, v in (await read_fields(request)).items()}


async def read_fields(request: Request, *, limit: int = MAX_FORM_BYTES) -> dict[str, list[str]]:
    """An url-encoded form's fields with every value (ticked boxes of one name); a form
    of more than `limit` bytes is empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    raw = await request.body()
    if len(raw) > limit:
        return {}
    text = raw.decode("utf-8", "replace")
    if "\x00" in unquote(text):
        # No field takes it (PostgreSQL text cannot hold NUL): the page says so, rather
        # than a service's database error as the API's JSON.
        raise PageAnswer(_nul_refused())
    fields = parse_qs(text, keep_blank_values=True)
    return {k: v for k, v in fields.items() if v}


async def signed_in(request: Request) -> SessionUser | None:
    return await sessions.find(state(request).pool, request.cookies.get(sessions.SESSION_COOKIE))


@dataclass(frozen=True, slots=True)
class Member:
    """A signed-in user and the pool their pages read (Staff and Affiliate add their
    scope)."""

    user: SessionUser
    pool: Pool


async def member(request: Request, *, staff: bool) -> SessionUser:
    """The signed-in user, if staff (`staff`) or an affiliate user (not `staff`); anyone
    else is answered: the sign-in page, or a 404 page for the other kind of user."""
    user = await signed_in(request)
    if user is None:
        raise PageAnswer(see_other("/"))
    if user.is_staff != staff:
        raise PageAnswer(not_found(user))
    return user


def anonymous_page(
    request: Request, name: str, context: Mapping[str, object], *, status: int = 200
) -> HTMLResponse:
    """A page for someone not signed in, its forms carrying the double-submitted token."""
    token, new = form_token(request)
    response = render(name, {**context, "csrf_token": token, "user": None}, status=status)
    if new:
        set_cookie(request, response, FORM_COOKIE, token, max_age=None)
    return response


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


def _nul_refused() -> HTMLResponse:
    return render(
        "message.html",
        {
            "title": "Not sent",
            "message": "A field holds a NUL character, which no field takes. Go back, "
            "remove it and send the form again.",
            "user": None,
        },
        status=400,
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


def url_id(text: str | None) -> int | None:
    """An ID from the URL: a whole number in range, else None (treated as absent)."""
    if text and text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_ID:
        return int(text)
    return None


def list_position(request: Request, statuses: tuple[str, ...]) -> tuple[str | None, int]:
    """A list page's status filter (one of `statuses`, else none) and the ID it starts
    after (0: the first page)."""
    status = request.query_params.get("status")
    return (status if status in statuses else None), url_id(request.query_params.get("after")) or 0


class PageAnswer(Exception):
    """Raised by a page's dependency (who is signed in, may they see this) to answer with
    `response` instead of the page: the sign-in page, a 404 page, a refusal."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _page_answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageAnswer)
    return exc.response


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PageAnswer, _page_answer)
