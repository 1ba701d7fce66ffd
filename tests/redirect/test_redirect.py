from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from app.clickid import parse_click_id


async def reload_links(app: FastAPI) -> None:
    await app.state.redirector.cache.load()


async def test_redirects_to_the_offer_with_macros_filled(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any]
) -> None:
    await reload_links(app)
    code = catalog["alice_link"]["code"]
    response = await client.get(f"/c/{code}", params={"sub1": "kw one&two=3", "sub2": "x"})
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example",
        "/landing",
    )
    query = parse_qs(location.query)
    assert query["s1"] == ["kw one&two=3"]
    assert parse_click_id(query["cid"][0]) is not None
    assert response.headers["cache-control"] == "no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"tclid={query['cid'][0]};")
    assert "Max-Age=2592000" in cookie
    assert "SameSite=Lax" in cookie


async def test_unknown_code_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.get("/c/nope-nope")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_head_requests_are_redirected_too(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any]
) -> None:
    await reload_links(app)
    response = await client.head(f"/c/{catalog['bob_link']['code']}")
    assert response.status_code == 302


async def test_paused_offer_goes_to_the_fallback(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    offer_id = catalog["offer"]["id"]
    patched = await client.patch(
        f"/api/v1/offers/{offer_id}", json={"status": "paused"}, headers=admin
    )
    assert patched.status_code == 200
    await reload_links(app)
    response = await client.get(f"/c/{catalog['alice_link']['code']}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/"


async def test_archived_link_keeps_redirecting_to_the_fallback(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    link = catalog["alice_link"]
    assert (await client.delete(f"/api/v1/links/{link['id']}", headers=admin)).status_code == 204
    await reload_links(app)
    response = await client.get(f"/c/{link['code']}")
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example/"


async def test_catalog_change_reaches_the_cache_by_version_key(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    cache = app.state.redirector.cache
    await cache.load()
    new = await client.post(
        "/api/v1/links",
        json={
            "affiliate_id": catalog["alice"]["id"],
            "offer_id": catalog["offer"]["id"],
            "code": "fresh-link",
        },
        headers=admin,
    )
    assert new.status_code == 201
    assert cache.get("fresh-link") is None
    assert await cache.refresh_if_changed() is True
    assert cache.get("fresh-link") is not None
    assert await cache.refresh_if_changed() is False


async def test_cache_invalidation_reaches_a_second_app_instance(
    settings: Any, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    other = create_app(settings)
    async with LifespanManager(other):
        cache = other.state.redirector.cache
        await cache.load()
        await client.post(
            "/api/v1/links",
            json={
                "affiliate_id": catalog["bob"]["id"],
                "offer_id": catalog["offer"]["id"],
                "code": "second-app",
            },
            headers=admin,
        )
        assert await cache.refresh_if_changed() is True
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/c/second-app")).status_code == 302
