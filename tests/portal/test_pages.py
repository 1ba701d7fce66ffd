"""The portal's pages over HTTP: the sign-in page at /, the policy, the assets, and who
may open which page."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.portal import web
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
