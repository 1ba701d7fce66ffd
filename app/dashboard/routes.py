"""The dashboard page and its script and style sheet.

The page holds no data and needs no session: it asks for an API key and calls
`/api/v1/stats` with it from the browser, so an affiliate's key shows that affiliate's
numbers only, by the same rules as the API. Sub-IDs are visitor-controlled text, so the
script writes every value as text, never as markup, and the policy below allows no
script but its own.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Response

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_STATIC = files("app.dashboard") / "static"
_PAGE = (_STATIC / "index.html").read_bytes()
_SCRIPT = (_STATIC / "dashboard.js").read_bytes()
_STYLE = (_STATIC / "dashboard.css").read_bytes()
_ICON = (_STATIC / "icon.svg").read_bytes()
_HOME = (_STATIC / "home.html").read_bytes()

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The assets change with each release; revalidating costs a round trip, not a download.
    "Cache-Control": "no-cache",
}


@router.get("/")
async def home() -> Response:
    """The landing page: where the dashboard and the API docs are."""
    return Response(_HOME, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/dashboard")
async def page() -> Response:
    return Response(_PAGE, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/dashboard.js")
async def script() -> Response:
    return Response(_SCRIPT, media_type="text/javascript; charset=utf-8", headers=_HEADERS)


@router.get("/dashboard.css")
async def style() -> Response:
    return Response(_STYLE, media_type="text/css; charset=utf-8", headers=_HEADERS)


@router.get("/dashboard.svg")
async def icon() -> Response:
    return Response(_ICON, media_type="image/svg+xml", headers=_HEADERS)
