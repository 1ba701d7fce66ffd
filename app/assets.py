"""Static pages and their assets, each sent with the headers that keep a browser strict."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response

HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
SVG = "image/svg+xml"


def headers(policy: str, *, cache_control: str = "no-cache") -> dict[str, str]:
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache_control,
    }


def serve(
    router: APIRouter,
    path: str,
    content: bytes | Callable[[], bytes],
    *,
    media_type: str,
    headers: dict[str, str],
) -> None:
    """A GET route for one file; `content` may be a function, to read it on first request."""
    read = content if callable(content) else lambda: content

    async def asset() -> Response:
        return Response(read(), media_type=media_type, headers=headers)

    router.add_api_route(path, asset, methods=["GET"])
