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


def page(*, title: str, body: bytes, stylesheet: str, scripts: tuple[str, ...] = ()) -> bytes:
    """An HTML page: the head every page of the service shares (charset, viewport, the
    icon), with its title, style sheet and deferred scripts, then its body (a file that
    starts at `<body>`)."""
    head = [
        '  <meta charset="utf-8">',
        '  <meta name="viewport" content="width=device-width, initial-scale=1">',
        f"  <title>{title}</title>",
        f'  <link rel="stylesheet" href="{stylesheet}">',
        '  <link rel="icon" href="/dashboard.svg" type="image/svg+xml">',
        *(f'  <script src="{src}" defer></script>' for src in scripts),
    ]
    start = '<!doctype html>\n<html lang="en">\n<head>\n' + "\n".join(head) + "\n</head>\n"
    return start.encode() + body
