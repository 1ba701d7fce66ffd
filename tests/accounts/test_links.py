"""Invite and reset links: mailed through the outbox, single-use, expiring."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.mail import queries as mail_queries
from app.mail.mailer import Mailer
from app.settings import Settings
from tests.helpers import create
from tests.support.portal import (
    PASSWORD,
    browser,
    csrf_of,
    mailed_path,
    make_user,
    set_password,
    sign_in,
)

NEW_PASSWORD = "a different passphrase"


async def _ask_reset(app: FastAPI, email: str) -> httpx.Response:
    async with browser(app) as person:
        page = await person.get("/forgot")
        return await person.post("/forgot", data={"csrf_token": csrf_of(page), "email": email})


async def test_an_invite_link_sets_the_password_once(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    user = await create(client, "users", {"email": "ann@example.com", "role": "owner"}, admin)
    assert user["has_password"] is False
    path = await mailed_path(pool, user["id"], "user_invite")
    async with browser(app) as person:
        weak = await set_password(person, path, "short")
        assert weak.status_code == 400
        assert "too weak" in weak.text
        # A weak try leaves the link working.
        done = await set_password(person, path)
        assert done.status_code == 303
        assert done.headers["location"] == "/manage"
        again = await person.get(path)
    assert again.status_code == 410
    assert "expired or was used" in again.text
    assert (await client.get(f"/api/v1/users/{user['id']}", headers=admin)).json()["has_password"]


async def test_a_new_invite_replaces_the_last(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    user = await create(client, "users", {"email": "ann@example.com", "role": "manager"}, admin)
    first = await mailed_path(pool, user["id"], "user_invite")
    resent = await client.post(f"/api/v1/users/{user['id']}/invite", headers=admin)
    assert resent.status_code == 201
    second = await mailed_path(pool, user["id"], "user_invite")
    assert second != first
    async with browser(app) as person:
        assert (await person.get(first)).status_code == 410
        assert (await set_password(person, second)).status_code == 303


async def test_a_reset_link_works_once_and_signs_out_everywhere(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    user = await make_user(app, client, admin, pool, email="ann@example.com", role="owner")
    async with browser(app) as other_device:
        assert (await sign_in(other_device, "ann@example.com")).status_code == 303
        asked = await _ask_reset(app, "ANN@example.com")
        assert asked.status_code == 200
        assert "If an account has this address" in asked.text
        path = await mailed_path(pool, user["id"], "password_reset")
        async with browser(app) as person:
            assert (await set_password(person, path, NEW_PASSWORD)).status_code == 303
            assert (await person.get(path)).status_code == 410
        # The old session is over; the old password no longer works, the new one does.
        assert (await other_device.get("/manage")).status_code == 303
        assert (await sign_in(other_device, "ann@example.com", PASSWORD)).status_code == 401
        assert (await sign_in(other_device, "ann@example.com", NEW_PASSWORD)).status_code == 303


async def test_an_expired_or_superseded_reset_link_does_not_work(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    user = await make_user(app, client, admin, pool, email="ann@example.com", role="owner")
    await _ask_reset(app, "ann@example.com")
    first = await mailed_path(pool, user["id"], "password_reset")
    await _ask_reset(app, "ann@example.com")
    second = await mailed_path(pool, user["id"], "password_reset")
    await pool.execute(
        "UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reset'"
    )
    async with browser(app) as person:
        for path in (first, second):
            assert (await person.get(path)).status_code == 410
            page = await person.get("/forgot")  # a form token, from any page before sign-in
            used = await person.post(
                path,
                data={
                    "csrf_token": csrf_of(page),
                    "password": NEW_PASSWORD,
                    "confirm": NEW_PASSWORD,
                },
            )
            assert used.status_code == 410
        assert (await sign_in(person, "ann@example.com", PASSWORD)).status_code == 303


async def test_asking_for_an_unknown_address_reads_the_same_and_mails_nothing(
    app: FastAPI, pool: Pool
) -> None:
    asked = await _ask_reset(app, "nobody@example.com")
    assert asked.status_code == 200
    assert "If an account has this address" in asked.text
    assert await pool.fetchval("SELECT count(*) FROM mail_outbox") == 0


async def test_the_mail_carries_the_full_link(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, settings: Settings
) -> None:
    user = await create(client, "users", {"email": "ann@example.com", "role": "owner"}, admin)
    mailer = Mailer(pool, settings)
    # Claimed as the sender claims it, rendered as it renders it.
    [row] = await pool.fetch(mail_queries.CLAIM, 10, timedelta(minutes=5), uuid.uuid4())
    assert mailer._skip_reason(row) is None
    message = mailer.message(row, b"k" * 32)
    path = await mailed_path(pool, user["id"], "user_invite")
    assert message["To"] == "ann@example.com"
    plain = message.get_body(("plain",))
    assert plain is not None
    assert f"{settings.public_url}{path}" in plain.get_content()


async def test_approving_an_affiliate_invites_its_contact(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Any
) -> None:
    applied = await client.post("/apply", json={"name": "Zed Media", "email": "zed@example.com"})
    assert applied.status_code == 202
    affiliate_id = await pool.fetchval("SELECT id FROM affiliates WHERE email = 'zed@example.com'")
    assert await pool.fetchval("SELECT count(*) FROM users") == 0
    approved = await client.post(f"/api/v1/affiliates/{affiliate_id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text

    row = await pool.fetchrow("SELECT id, role, affiliate_id, created_by FROM users")
    assert row is not None
    assert (row["role"], row["affiliate_id"], row["created_by"]) == (
        "affiliate",
        affiliate_id,
        "admin",
    )
    path = await mailed_path(pool, row["id"], "user_invite")
    async with browser(app) as person:
        done = await set_password(person, path)
        assert done.headers["location"] == "/partner"
        assert (await person.get("/partner")).status_code == 200
    # Approving again (or after a rejection) invites no second user.
    await client.post(f"/api/v1/affiliates/{affiliate_id}/approve", headers=admin)
    assert await pool.fetchval("SELECT count(*) FROM users") == 1
