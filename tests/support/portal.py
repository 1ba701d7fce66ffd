"""Portal users made as a person would get them: created through the users API, invited
by mail (the outbox row), and signed in through the pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import create

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    match = _TOKEN.search(page.text)
    assert match, page.text[:500]
    return match[1]


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
