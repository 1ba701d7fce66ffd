"""Offer targeting in the redirect, against real Redis and PostgreSQL: a click in the
targeting goes to the offer, one outside to the fallback, stored with its reason and not
counted against the caps; without a fallback, as a paused offer's, a 404."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import worker as stream_worker
from app.db import Pool
from app.settings import Settings
from tests.helpers import reload_links

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = IPHONE.replace("iPhone; CPU iPhone OS", "iPad; CPU OS")
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
GERMANY, USA = "81.169.145.1", "8.8.8.8"
OFFER = "https://shop.example/landing"
FALLBACK = "https://shop.example/"
_numbers = itertools.count()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test client is 127.0.0.1: it may say which visitor it stands for.
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})


async def target(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], offer_id: int, **body: Any
) -> None:
    patched = await client.patch(f"/api/v1/offers/{offer_id}", json=body, headers=admin)
    assert patched.status_code == 200, patched.text
    await reload_links(app)


async def visit(client: httpx.AsyncClient, code: str, ip: str, agent: str) -> str:
    # Each click numbered in sub1, the order its row is read back in (two clicks may
    # share a millisecond, and so a clicked_at).
    response = await client.get(
        f"/c/{code}",
        params={"sub1": f"{next(_numbers):06d}"},
        headers={"User-Agent": agent, "X-Forwarded-For": ip},
    )
    assert response.status_code == 302, response.text
    return str(response.headers["location"]).split("?")[0]


async def stored(settings: Settings, pool: Pool) -> list[tuple[str, str, str | None]]:
    await stream_worker.run(settings, burst=True)
    rows = await pool.fetch("SELECT country, device, diverted FROM clicks ORDER BY sub1")
    return [(r["country"], r["device"], r["diverted"]) for r in rows]


async def test_countries_allowed_and_devices(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    targeting = {"countries": ["DE", "AT"], "devices": ["mobile", "tablet"]}
    await target(app, client, admin, catalog["offer"]["id"], targeting=targeting)
    code = catalog["alice_link"]["code"]
    assert [
        await visit(client, code, GERMANY, IPHONE),
        await visit(client, code, USA, IPHONE),
        await visit(client, code, GERMANY, DESKTOP),
        await visit(client, code, GERMANY, IPAD),
        # Its country unknown (a private address): not among those allowed.
        await visit(client, code, "10.1.2.3", IPHONE),
    ] == [OFFER, FALLBACK, FALLBACK, OFFER, FALLBACK]
    assert await stored(settings, pool) == [
        ("DE", "mobile", None),
        ("US", "mobile", "targeting_country"),
        ("DE", "desktop", "targeting_device"),
        ("DE", "tablet", None),
        (None, "mobile", "targeting_country"),
    ]


async def test_countries_blocked(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    targeting = {"countries": ["US"], "country_mode": "block"}
    await target(app, client, admin, catalog["offer"]["id"], targeting=targeting)
    code = catalog["bob_link"]["code"]
    assert [
        await visit(client, code, USA, DESKTOP),
        await visit(client, code, GERMANY, DESKTOP),
        await visit(client, code, "10.1.2.3", DESKTOP),
    ] == [FALLBACK, OFFER, OFFER]
    assert [d for *_, d in await stored(settings, pool)] == ["targeting_country", None, None]

    # Removed: every click goes to the offer again, in this process from the change on.
    await target(app, client, admin, catalog["offer"]["id"], targeting=None)
    assert await visit(client, code, USA, DESKTOP) == OFFER


async def test_a_click_outside_counts_against_no_cap(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    await target(
        app,
        client,
        admin,
        catalog["offer"]["id"],
        targeting={"devices": ["mobile"]},
        caps=[{"metric": "clicks", "period": "day", "limit": 1}],
    )
    code = catalog["alice_link"]["code"]
    assert [
        await visit(client, code, GERMANY, DESKTOP),
        await visit(client, code, GERMANY, IPHONE),
        await visit(client, code, GERMANY, IPHONE),
    ] == [FALLBACK, OFFER, FALLBACK]
    assert [d for *_, d in await stored(settings, pool)] == ["targeting_device", None, "cap"]


async def test_outside_without_a_fallback_is_the_paused_offers_404(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    await target(
        app,
        client,
        admin,
        catalog["offer"]["id"],
        targeting={"countries": ["DE"]},
        fallback_url=None,
    )
    response = await client.get(
        f"/c/{catalog['alice_link']['code']}",
        headers={"User-Agent": DESKTOP, "X-Forwarded-For": USA},
    )
    assert response.status_code == 404
    assert response.text == "This offer is not available.\n"
    assert [d for *_, d in await stored(settings, pool)] == ["targeting_country"]


async def test_a_head_request_is_a_bots_as_the_click_writer_stores_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    await target(app, client, admin, catalog["offer"]["id"], targeting={"devices": ["mobile"]})
    response = await client.head(
        f"/c/{catalog['alice_link']['code']}",
        headers={"User-Agent": IPHONE, "X-Forwarded-For": GERMANY},
    )
    assert response.status_code == 302
    assert response.headers["location"] == FALLBACK
    assert await stored(settings, pool) == [("DE", "bot", "targeting_device")]
