"""The portal's pages over HTTP: the sign-in page at /, the policy, the assets, and who
may open which page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.portal import web
from tests.stats import factory
from tests.support.portal import browser, csrf_of, make_user, sign_in


async def test_the_sign_in_page_is_at_the_root_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert policy == web.POLICY
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["cache-control"] == "no-store"
    assert '<label for="email">' in page.text
    assert '<label for="password">' in page.text
    assert 'href="/docs"' in page.text
    # Scripts only from files of this origin: no inline code for the policy to allow.
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert re.search(r'src="/portal/assets/[0-9a-f]{12}/', tag), tag
    token = csrf_of(page)
    assert page.cookies[web.FORM_COOKIE] == token


async def test_every_asset_is_served_from_the_package_for_a_year(
    client: httpx.AsyncClient,
) -> None:
    assert set(web.ASSET_PATHS) >= {"vendor/uPlot.iife.min.js", "portal.js", "portal.css"}
    for name, path in web.ASSET_PATHS.items():
        response = await client.get(path)
        assert response.status_code == 200, name
        assert response.content == web.ASSET_CONTENT[name]
        assert "immutable" in response.headers["cache-control"]
        assert response.headers["x-content-type-options"] == "nosniff"
    script = web.ASSET_CONTENT["portal.js"].decode()
    assert "innerHTML" not in script
    assert "http://" not in script
    assert "https://" not in script


async def test_pages_need_a_session_and_the_right_role(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    for path in ("/manage", "/manage/conversions", "/partner"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/"
    alice = catalog["alice"]["id"]
    await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    async with browser(app) as person:
        assert (await sign_in(person, "alice@example.com")).headers["location"] == "/partner"
        assert (await person.get("/")).headers["location"] == "/partner"
        assert (await person.get("/manage")).status_code == 404
        assert (await person.get("/manage/conversions")).status_code == 404
        mine = await person.get(f"/partner?affiliate={alice}")
        assert mine.status_code == 200
        other = await person.get(f"/partner?affiliate={catalog['bob']['id']}")
        assert other.status_code == 404
        assert "Bob" not in other.text
        # Deciding a conversion is a manager's action.
        page = await person.get("/partner")
        decided = await person.post(
            "/manage/conversions/1", data={"csrf_token": csrf_of(page), "action": "approve"}
        )
        assert decided.status_code == 404


async def test_a_user_reads_numbers_in_their_locale(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    clicks = [factory.click(catalog["alice_link"], at, currency="USD") for _ in range(1234)]
    assert await factory.store_clicks(pool, clicks) == 1234
    click = await pool.fetchrow("SELECT * FROM clicks ORDER BY clicked_at LIMIT 1")
    assert click is not None
    await factory.add_conversion(
        pool,
        click,
        advertiser_id=catalog["advertiser"]["id"],
        currency="EUR",
        status="approved",
        created_at=at,
        revenue=Decimal("2000.00"),
        payout=Decimal("1234.50"),
    )
    owner = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    assert owner["locale"] == "en_US"
    unknown = await client.patch(
        f"/api/v1/users/{owner['id']}", json={"locale": "xx_YY"}, headers=admin
    )
    assert unknown.status_code == 400
    assert "locale" in unknown.json()["error"]["message"]
    async with browser(app) as person:
        assert (await sign_in(person, "owner@example.com")).status_code == 303
        english = (await person.get("/manage/conversions")).text
        assert "1,234.50 EUR" in english
        changed = await client.patch(
            f"/api/v1/users/{owner['id']}", json={"locale": "de_DE"}, headers=admin
        )
        assert changed.json()["locale"] == "de_DE"
        german = (await person.get("/manage/conversions")).text
        assert "1.234,50 EUR" in german
        assert "1,234.50 EUR" not in german
        assert '<html lang="de-DE">' in german
        overview = (await person.get("/manage")).text
        assert "1.234" in overview  # today's clicks
        assert "1.234,50 EUR" in overview  # today's payout


async def test_a_user_chooses_their_zone_and_locale_on_their_account_page(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    user = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        assert (await sign_in(person, "owner@example.com")).status_code == 303
        page = await person.get("/account")
        assert page.status_code == 200
        assert '<option value="UTC" selected>' in page.text
        assert "1.234.567,89" in page.text  # the de_DE choice, shown as it would read
        token = csrf_of(page)
        refused = await person.post("/account", data={"time_zone": "Asia/Kolkata"})
        assert refused.status_code == 403
        bad = await person.post("/account", data={"csrf_token": token, "time_zone": "Mars/Olympus"})
        assert bad.status_code == 400
        assert "time zone" in bad.text
        saved = await person.post(
            "/account",
            data={"csrf_token": token, "time_zone": "Asia/Kolkata", "locale": "de_DE"},
        )
        assert saved.headers["location"] == "/account?saved=1"
        after = await person.get("/account?saved=1")
        assert "Saved." in after.text
        assert '<option value="Asia/Kolkata" selected>' in after.text
        assert '<html lang="de-DE">' in after.text
    shown = (await client.get(f"/api/v1/users/{user['id']}", headers=admin)).json()
    assert (shown["time_zone"], shown["locale"], shown["updated_by"]) == (
        "Asia/Kolkata",
        "de_DE",
        f"admin:{user['key_id']}",
    )
    assert (await client.get("/account")).headers["location"] == "/"
