"""/docs and its assets: Swagger UI from the `fastapi-offline` wheel, under a policy that
lets the page load nothing from another origin."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Response

router = APIRouter(tags=["docs"], include_in_schema=False)

_OWN = files("app.docs") / "static"
_SWAGGER = files("fastapi_offline") / "static"
_PAGE = (_OWN / "docs.html").read_bytes()
_INIT = (_OWN / "docs.js").read_bytes()

# Swagger UI writes style attributes and draws icons from data: URLs; nothing else is let in.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/docs")
async def page() -> Response:
    return Response(_PAGE, media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/docs/docs.js")
async def init_script() -> Response:
    return Response(_INIT, media_type="text/javascript; charset=utf-8", headers=_HEADERS)


@cache
def _vendor(name: str) -> bytes:
    # Read once, on first request: 1.7 MB that most web processes never serve.
    return (_SWAGGER / name).read_bytes()


# Swagger UI's files change only with the package: a browser may keep them for an hour.
_VENDOR_HEADERS = {**_HEADERS, "Cache-Control": "public, max-age=3600"}


@router.get("/docs/swagger-ui-bundle.js")
async def bundle() -> Response:
    return Response(
        _vendor("swagger-ui-bundle.js"),
        media_type="text/javascript; charset=utf-8",
        headers=_VENDOR_HEADERS,
    )


@router.get("/docs/swagger-ui.css")
async def style() -> Response:
    return Response(
        _vendor("swagger-ui.css"), media_type="text/css; charset=utf-8", headers=_VENDOR_HEADERS
    )
