"""Sessions, CSRF and sign-in limits, through the pages and the API, against real
PostgreSQL and Redis."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.accounts.limits import SignInLimits
from app.accounts.sessions import SESSION_COOKIE
from app.db import Pool
from app.portal import auth
from tests.helpers import assert_error
from tests.support.portal import PASSWORD, browser, csrf_of, make_user, sign_in


async def test_signing_in_stores_only_a_hash_and_sets_a_strict_cookie(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        response = await sign_in(person, "owner@example.com")

        assert response.status_code == 303
        assert response.headers["location"] == "/manage"
        cookie = next(
            h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Secure" not in cookie  # plain HTTP, no trusted proxy saying otherwise
        token = person.cookies[SESSION_COOKIE]
        stored = [
            bytes(r["token_hash"]) for r in await pool.fetch("SELECT token_hash FROM user_sessions")
        ]
        assert hashlib.sha256(token.encode()).digest() in stored
        assert token.encode() not in stored
        page = await person.get("/manage")
        assert page.status_code == 200
        assert "content-security-policy" in page.headers


async def test_the_cookie_is_secure_behind_a_trusted_https_proxy(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, settings: Any
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    settings.trusted_proxies = ["127.0.0.0/8"]
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tracker.test") as proxy:
        page = await proxy.get("/")
        response = await proxy.post(
            "/",
            data={"csrf_token": csrf_of(page), "email": "owner@example.com", "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert response.status_code == 303
    cookie = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
    )
    assert "Secure" in cookie


async def test_a_form_without_its_csrf_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        await person.get("/")
        refused = await person.post("/", data={"email": "owner@example.com", "password": PASSWORD})
        assert refused.status_code == 403
        assert "security token" in refused.text
        assert SESSION_COOKIE not in person.cookies

        assert (await sign_in(person, "owner@example.com")).status_code == 303
        # Signed in: sign-out (state-changing) without the session's token is refused.
        kept = await person.post("/sign-out", data={"csrf_token": "forged"})
        assert kept.status_code == 403
        assert (await person.get("/manage")).status_code == 200


async def test_the_api_takes_a_session_with_the_key_scoping_and_csrf_on_changes(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    alice = catalog["alice"]["id"]
    await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    async with browser(app) as owner, browser(app) as affiliate, browser(app) as manager:
        for person, email in ((owner, "owner"), (affiliate, "alice"), (manager, "mia")):
            assert (await sign_in(person, f"{email}@example.com")).status_code == 303

        assert (await owner.get("/api/v1/users")).status_code == 200
        page = await owner.get("/manage")
        token = csrf_of(page)
        body = {"name": "Renamed"}
        refused = await owner.patch("/api/v1/users/1", json=body)
        assert_error(refused, 403, "csrf_refused")
        changed = await owner.patch("/api/v1/users/1", json=body, headers={"X-CSRF-Token": token})
        assert changed.status_code == 200, changed.text
        assert changed.json()["updated_by"].startswith("admin:")

        assert_error(await affiliate.get("/api/v1/users"), 403)
        stats = await affiliate.get("/api/v1/stats")
        assert stats.status_code == 200
        assert "revenue" not in stats.json()["totals"]
        other = await affiliate.get(f"/api/v1/stats?affiliate={catalog['bob']['id']}")
        assert_error(other, 403)

        # A manager's session: their affiliates (none yet) and not the owners' routes.
        assert (await manager.get("/api/v1/stats")).json()["rows"] == []
        assert_error(await manager.get("/api/v1/users"), 403, "owner_only")
        assert_error(
            await httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://tracker.test",
                cookies={SESSION_COOKIE: "made-up"},
            ).get("/api/v1/stats"),
            401,
        )


async def test_a_locked_account_is_refused_even_with_the_right_password(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    limits = SignInLimits()
    async with browser(app) as person:
        for _ in range(limits.per_account):
            wrong = await sign_in(person, "owner@example.com", "wrong password!")
            assert wrong.status_code == 401
            assert "wrong" in wrong.text
        locked = await sign_in(person, "Owner@Example.com")

        assert locked.status_code == 429
        assert "Too many failed sign-ins for this account" in locked.text
        assert 0 < int(locked.headers["retry-after"]) <= limits.window_s
        assert SESSION_COOKIE not in person.cookies
    # Another address is not locked by this one's failures.
    await make_user(app, client, admin, pool, email="other@example.com", role="owner")
    async with browser(app) as other:
        assert (await sign_in(other, "other@example.com")).status_code == 303


async def test_one_address_guessing_many_accounts_is_limited(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    limits = auth.SIGN_IN_LIMITS
    async with browser(app) as person:
        for i in range(limits.per_address):
            assert (
                await sign_in(person, f"guess{i}@example.com", "nope nope nope")
            ).status_code == 401
        locked = await sign_in(person, "owner@example.com")
    assert locked.status_code == 429
    assert "from your network" in locked.text


async def test_an_unknown_address_and_a_wrong_password_read_the_same(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        unknown = await sign_in(person, "nobody@example.com", PASSWORD)
        wrong = await sign_in(person, "owner@example.com", PASSWORD + "x")
    assert unknown.status_code == wrong.status_code == 401
    assert "The e-mail address or the password is wrong." in unknown.text
    assert "The e-mail address or the password is wrong." in wrong.text


async def test_signing_out_everywhere_ends_every_session(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    user = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as laptop, browser(app) as phone:
        for person in (laptop, phone):
            assert (await sign_in(person, "owner@example.com")).status_code == 303
        # The invite link's own sign-in, then two browsers.
        assert await pool.fetchval("SELECT count(*) FROM user_sessions") == 3
        page = await laptop.get("/manage")
        out = await laptop.post("/sign-out-everywhere", data={"csrf_token": csrf_of(page)})

        assert out.status_code == 303
        assert (await phone.get("/manage")).headers["location"] == "/"
        assert (
            await pool.fetchval("SELECT count(*) FROM user_sessions WHERE user_id = $1", user["id"])
            == 0
        )


async def test_disabling_a_user_signs_them_out(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    user = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        assert (await sign_in(person, "owner@example.com")).status_code == 303
        patched = await client.patch(
            f"/api/v1/users/{user['id']}", json={"disabled": True}, headers=admin
        )
        assert patched.json()["disabled"] is True
        assert (await person.get("/manage")).status_code == 303
        assert (await sign_in(person, "owner@example.com")).status_code == 401
