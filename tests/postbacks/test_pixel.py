"""/pixel.gif and /pixel.js: browser conversions, attributed through the click cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id, parse_click_id
from app.db import Pool
from app.postbacks.routes import GIF
from app.settings import Settings
from tests.browser import needs_browser, run_script, serve
from tests.helpers import reload_links
from tests.support.conversions import click, conversions, make_shop, run_worker, stream_length


def _is_gif(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == GIF
    assert response.headers["cache-control"] == "no-store"


async def test_the_pixel_is_attributed_through_the_click_cookie(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"], sub2="x")
    await run_worker(settings)
    response = await client.get(
        "/pixel.gif",
        params={"event": "conversion", "amount": "19.90", "txid": "WEB-1", "status": "rejected"},
        headers={"Cookie": f"tclid={click_id}"},
    )
    _is_gif(response)
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["click_id"] == parse_click_id(click_id)
    assert (row["affiliate_id"], row["sub2"], row["via"]) == (shop["alice"]["id"], "x", "pixel")
    # The browser is not trusted with a status: a pixel conversion starts as the offer's
    # pixel_status says, pending by default.
    assert (row["status"], row["txid"], str(row["amount"])) == ("pending", "WEB-1", "19.9000")


async def test_an_explicit_click_id_wins_and_a_repeat_changes_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    for _ in range(3):
        _is_gif(
            await client.get(
                "/pixel.gif", params={"click_id": bob}, headers={"Cookie": f"tclid={alice}"}
            )
        )
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["affiliate_id"] == shop["bob"]["id"]


@pytest.mark.parametrize(
    "query",
    [{}, {"click_id": "garbage"}, {"amount": "abc"}, {"amount": "-5"}, {"event": "<script>"}],
)
async def test_a_pixel_is_always_a_gif_and_bad_input_stores_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    redis: Redis,
    query: dict[str, str],
) -> None:
    cookie = {} if "click_id" in query or not query else {"Cookie": f"tclid={new_click_id()[0]}"}
    _is_gif(await client.get("/pixel.gif", params=query, headers=cookie))
    assert await stream_length(redis, settings) == 0


async def test_pixel_js_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/pixel.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert "pixel.gif" in response.text


# --- a real browser ----------------------------------------------------------------

Scope = MutableMapping[str, Any]


def _advertiser_site(tracker: str) -> Callable[..., Awaitable[None]]:
    pages = {
        "/landing": f'<p>Shoes</p><script src="{tracker}/pixel.js"></script>',
        "/thanks": (
            f'<p>Thank you</p><script src="{tracker}/pixel.js" data-event="conversion"'
            ' data-amount="49.90" data-txid="ORDER-7"></script>'
        ),
    }

    async def site(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = pages.get(scope["path"])
        status = 200 if body else 404
        payload = f"<!doctype html><html><body>{body or ''}</body></html>".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return site


@pytest.fixture
async def servers(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """The tracker on 127.0.0.1 and an advertiser's site on 127.0.0.2: two sites."""
    tracker, tracker_task, tracker_url = await serve(app, "127.0.0.1")
    holder: dict[str, Any] = {"tracker": tracker_url}
    site, site_task, site_url = await serve(_advertiser_site(tracker_url), "127.0.0.2")
    holder["site"] = site_url
    try:
        yield holder
    finally:
        for server, task in ((site, site_task), (tracker, tracker_task)):
            server.should_exit = True
            await task


@needs_browser
async def test_pixel_js_in_chromium_across_two_sites(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    servers: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(
        client, admin, url=f"{servers['site']}/landing?click_id={{click_id}}&utm=x"
    )
    await reload_links(app)
    seen = await run_script(
        Path(__file__).with_name("browser.js"),
        f"{servers['tracker']}/c/{shop['alice_link']['code']}",
        f"{servers['site']}/thanks",
    )
    landing_id = parse_qs(urlsplit(seen["landing"]["url"]).query)["click_id"][0]
    assert (seen["landing"]["text"], seen["thanksText"]) == ("Shoes", "Thank you")
    assert seen["pixelHeader"] in ("GIF87a", "GIF89a")
    assert seen["pixelSize"] == [1, 1]
    # The script kept the click ID in a cookie of the advertiser's own site ...
    assert f"tclid={landing_id}" in seen["landing"]["cookie"]
    # ... and sent it explicitly: the tracker's own cookie is third-party there.
    assert parse_qs(urlsplit(seen["pixelUrl"]).query)["click_id"] == [landing_id]
    assert seen["pixelCookie"] is None
    assert (seen["pixelStatus"], seen["pixelType"]) == (200, "image/gif")
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["click_id"] == parse_click_id(landing_id)
    assert (row["affiliate_id"], row["txid"], row["via"]) == (
        shop["alice"]["id"],
        "ORDER-7",
        "pixel",
    )
    assert str(row["amount"]) == "49.9000"
