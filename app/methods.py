"""The `Allow` header of a 405: every method the path has, not only one route's.

FastAPI makes one route per method, so when a method is refused the route that answers
names its own method only (`Allow: POST` on a path that also takes GET). The 405 asks the
app's routing which methods the path takes and names them all; an OPTIONS request, which
no route takes, gets the same 405 with the same list (/postback included).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.errors import error_body

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed(app: FastAPI, request: Request) -> list[str]:
    """The methods some route takes at the request's path, asked of the app's own routing
    (routers may nest, so the routes are not walked by hand)."""
    methods = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in app.router.routes):
            methods.append(method)
    return methods


def install(app: FastAPI) -> None:
    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Method Not Allowed"
        response = JSONResponse(error_body("method_not_allowed", message), status_code=405)
        response.headers["Allow"] = ", ".join(allowed(app, request))
        return response

    app.add_exception_handler(405, method_not_allowed)
