from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from starlette.types import Message

from app.clickid import parse_click_id
from tests.helpers import reload_links


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


async def raw_get(app: FastAPI, path: str, query: bytes) -> tuple[int, dict[bytes, bytes]]:
    """Call the ASGI app directly: an HTTP client would refuse some of these URLs."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"t"), (b"user-agent", b"\r\nX: y")],
        "client": ("1.2.3.4", 9),
        "server": ("t", 80),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"])


async def test_hostile_requests_get_a_302_to_the_offer_host_or_a_4xx(
    app: FastAPI, catalog: dict[str, Any]
) -> None:
    await reload_links(app)
    path = f"/c/{catalog['alice_link']['code']}"
    hostile = [
        b"sub1=%0D%0ASet-Cookie:%20evil=1",
        b"sub1=//evil.example&sub2=javascript:alert(1)",
        b"sub1=%FF%FE%00%C0%AF",
        b"sub1=" + b"A" * 1_000_000,
        b"&".join(b"p%d=v" % i for i in range(10_000)),
        b"sub1=%%%zz%G0&sub2=\r\n",
    ]
    for query in hostile:
        status, headers = await raw_get(app, path, query)
        assert status == 302, query[:40]
        location = headers[b"location"]
        assert urlsplit(location.decode()).netloc == "shop.example"
        assert b"\r" not in location
        assert b"\n" not in location
        assert not headers[b"set-cookie"].startswith(b"evil")
        assert len(location) < 4000


async def test_https_behind_a_trusted_proxy_gets_a_cross_site_cookie(
    settings: Any, catalog: dict[str, Any]
) -> None:
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    proxied = create_app(settings.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]}))
    async with LifespanManager(proxied):
        await reload_links(proxied)
        transport = httpx.ASGITransport(app=proxied, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get(
                f"/c/{catalog['alice_link']['code']}",
                headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.2", "X-Forwarded-Proto": "https"},
            )
    assert response.status_code == 302
    assert "SameSite=None; Secure" in response.headers["set-cookie"]


async def test_pausing_an_affiliate_diverts_its_links_at_the_next_refresh(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any], admin: dict[str, str]
) -> None:
    cache = app.state.redirector.cache
    await cache.load()
    paused = await client.patch(
        f"/api/v1/affiliates/{catalog['alice']['id']}", json={"status": "paused"}, headers=admin
    )
    assert paused.status_code == 200
    assert await cache.refresh_if_changed() is True
    response = await client.get(f"/c/{catalog['alice_link']['code']}")
    assert response.headers["location"] == "https://shop.example/"


async def test_dates_at_the_end_of_time_are_a_400_not_a_500(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for path in (
        "/api/v1/stats?to=9999-12-31",
        "/api/v1/conversions?to=9999-12-31",
        "/api/v1/stats?from=0001-01-01T00:00:00%2B05:00",
    ):
        response = await client.get(path, headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert set(response.json()["error"]) >= {"code", "message"}
