"""Portal users made as a person would get them: created through the users API, invited
by mail (the outbox row), and signed in through the pages; a conversion to show them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create
from tests.stats import factory

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    match = _TOKEN.search(page.text)
    assert match, page.text[:500]
    return match[1]


class _Fields(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._chosen = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input" and "name" in a:
            if a.get("type") != "checkbox":
                self.fields[a["name"]] = a.get("value", "")
            elif "checked" in a:
                self.fields[a["name"]] = a.get("value", "on")
        elif tag == "select":
            self._select, self._chosen = a.get("name"), False
        elif tag == "option" and self._select:
            # The first option, unless one is selected.
            if "selected" in a or (self._select not in self.fields and not self._chosen):
                self.fields[self._select] = a.get("value", "")
            self._chosen = self._chosen or "selected" in a

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None


def form_fields(page: httpx.Response, form_id: str) -> dict[str, str]:
    """What the form of the page sends as it stands, as a browser would: its inputs' values,
    ticked boxes, each list's chosen option."""
    parser = _Fields(form_id)
    parser.feed(page.text)
    assert parser.fields, f"no form {form_id!r}"
    return parser.fields


async def mailed_path(pool: Pool, user_id: int, kind: str) -> str:
    """The link path of the newest mail of `kind` to the user (what the e-mail says)."""
    data = await pool.fetchval(
        "SELECT data FROM mail_outbox WHERE user_id = $1 AND kind = $2 ORDER BY id DESC LIMIT 1",
        user_id,
        kind,
    )
    assert data is not None, f"no {kind} mail to user {user_id}"
    path: str = data["path"]
    return path


@asynccontextmanager
async def browser(
    app: FastAPI, base_url: str = "http://tracker.test"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with its own cookie jar: one person's browser."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        yield c


async def set_password(
    client: httpx.AsyncClient, path: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(
        path, data={"csrf_token": csrf_of(page), "password": password, "confirm": password}
    )


async def make_user(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    *,
    email: str,
    role: str,
    affiliate_id: int | None = None,
) -> dict[str, Any]:
    """A user with PASSWORD set through their invite link."""
    body: dict[str, Any] = {"email": email, "role": role}
    if affiliate_id is not None:
        body["affiliate_id"] = affiliate_id
    user = await create(client, "users", body, admin)
    path = await mailed_path(pool, user["id"], "user_invite")
    async with browser(app) as person:
        response = await set_password(person, path)
        assert response.status_code == 303, response.text
    return user


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/")
    return await client.post(
        "/", data={"csrf_token": csrf_of(page), "email": email, "password": password}
    )


@asynccontextmanager
async def signed_in(app: FastAPI, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """One person's browser, signed in with PASSWORD."""
    async with browser(app) as person:
        answer = await sign_in(person, email)
        assert answer.status_code == 303, answer.text
        yield person


async def make_manager(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    *,
    email: str,
    affiliates: list[int],
) -> dict[str, Any]:
    """A manager user (as make_user) to whom the affiliates are assigned."""
    manager = await make_user(app, client, admin, pool, email=email, role="manager")
    for affiliate_id in affiliates:
        assigned = await client.patch(
            f"/api/v1/affiliates/{affiliate_id}",
            json={"manager_id": manager["key_id"]},
            headers=admin,
        )
        assert assigned.status_code == 200, assigned.text
    return manager


async def clicked_conversion(
    pool: Pool,
    catalog: dict[str, Any],
    link: str,
    *,
    status: str,
    sub1: str,
    revenue: Decimal,
    payout: Decimal,
) -> int:
    """A click on the catalog's `link` five minutes ago and its conversion in USD."""
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    made = factory.click(catalog[link], at, currency="USD", sub1=sub1)
    assert await factory.store_clicks(pool, [made]) == 1
    click = await pool.fetchrow("SELECT * FROM clicks WHERE click_id = $1", made.row[0])
    assert click is not None
    return await factory.add_conversion(
        pool,
        click,
        advertiser_id=catalog["advertiser"]["id"],
        currency="USD",
        status=status,
        created_at=at,
        revenue=revenue,
        payout=payout,
    )


async def owner_and_manager(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    *,
    assigned: int | None = None,
    zone: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """owner@example.com (in `zone`, if given) and mia@example.com, a manager with the
    affiliate `assigned` to her (if given)."""
    owner = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    if zone is not None:
        zoned = await client.patch(
            f"/api/v1/users/{owner['id']}", json={"time_zone": zone}, headers=admin
        )
        assert zoned.status_code == 200, zoned.text
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    if assigned is not None:
        await assign(client, admin, assigned, mia)
    return owner, mia


async def assign(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate_id: int, manager: dict[str, Any]
) -> None:
    """The affiliate assigned to the manager, as an owner does it (its `manager_id`)."""
    done = await client.patch(
        f"/api/v1/affiliates/{affiliate_id}", json={"manager_id": manager["key_id"]}, headers=admin
    )
    assert done.status_code == 200, done.text


async def alice_sale(pool: Pool, catalog: dict[str, Any]) -> int:
    """A click on Alice's link and its approved conversion: 12.00 USD, 7.50 to her."""
    return await clicked_conversion(
        pool,
        catalog,
        "alice_link",
        status="approved",
        sub1="spring",
        revenue=Decimal("12.00"),
        payout=Decimal("7.50"),
    )
