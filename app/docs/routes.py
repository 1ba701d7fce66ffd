"""/docs and its assets: Swagger UI from the `fastapi-offline` wheel, under a policy that
lets the page load nothing from another origin."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files

from fastapi import APIRouter

from app import assets

router = APIRouter(tags=["docs"], include_in_schema=False)

_OWN = files("app.docs") / "static"
_SWAGGER = files("fastapi_offline") / "static"

# Swagger UI writes style attributes and draws icons from data: URLs; nothing else is let in.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = assets.headers(POLICY)
# Swagger UI's files change only with the package: a browser may keep them for an hour.
_VENDOR_HEADERS = assets.headers(POLICY, cache_control="public, max-age=3600")


def _vendor(name: str) -> Callable[[], bytes]:
    # Read once, on first request: 1.7 MB that most web processes never serve.
    return cache(lambda: (_SWAGGER / name).read_bytes())


PAGE = assets.page(
    title="Tracker API",
    body=(_OWN / "docs.html").read_bytes(),
    stylesheet="/docs/swagger-ui.css",
    scripts=("/docs/swagger-ui-bundle.js", "/docs/docs.js"),
)
assets.serve(router, "/docs", PAGE, media_type=assets.HTML, headers=_HEADERS)
assets.serve(
    router,
    "/docs/docs.js",
    (_OWN / "docs.js").read_bytes(),
    media_type=assets.JAVASCRIPT,
    headers=_HEADERS,
)
assets.serve(
    router,
    "/docs/swagger-ui-bundle.js",
    _vendor("swagger-ui-bundle.js"),
    media_type=assets.JAVASCRIPT,
    headers=_VENDOR_HEADERS,
)
assets.serve(
    router,
    "/docs/swagger-ui.css",
    _vendor("swagger-ui.css"),
    media_type=assets.CSS,
    headers=_VENDOR_HEADERS,
)
