"""The dashboard page and its script and style sheet.

The page holds no data and needs no session: it asks for an API key and calls
`/api/v1/stats` with it from the browser, so an affiliate's key shows that affiliate's
numbers only, by the same rules as the API. Sub-IDs are visitor-controlled text, so the
script writes every value as text, never as markup, and the policy below allows no
script but its own.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter

from app import assets

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_STATIC = files("app.dashboard") / "static"

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The assets change with each release; revalidating costs a round trip, not a download.
_HEADERS = assets.headers(POLICY, cache_control="no-cache")

# The dashboard and its own files (`/`, the sign-in page, is app/portal's).
DASHBOARD = assets.page(
    title="Tracker stats",
    body=(_STATIC / "index.html").read_bytes(),
    stylesheet="/dashboard.css",
    scripts=("/dashboard.js",),
)
for _path, _content, _media_type in (
    ("/dashboard", DASHBOARD, assets.HTML),
    ("/dashboard.js", (_STATIC / "dashboard.js").read_bytes(), assets.JAVASCRIPT),
    ("/dashboard.css", (_STATIC / "dashboard.css").read_bytes(), assets.CSS),
    ("/dashboard.svg", (_STATIC / "icon.svg").read_bytes(), assets.SVG),
):
    assets.serve(router, _path, _content, media_type=_media_type, headers=_HEADERS)
