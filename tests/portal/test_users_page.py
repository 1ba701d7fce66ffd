"""The owners' users screen: invite by e-mail, disable and enable, and nobody else's."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.support.portal import (
    browser,
    csrf_of,
    mailed_path,
    make_user,
    set_password,
    sign_in,
)


async def test_an_owner_invites_disables_and_enables_people(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    owner = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    async with browser(app) as person:
        assert (await sign_in(person, "owner@example.com")).status_code == 303
        page = await person.get("/manage/users")
        assert page.status_code == 200
        assert "mia@example.com" in page.text
        token = csrf_of(page)
        assert (
            await person.post("/manage/users", data={"email": "x@example.com"})
        ).status_code == 403
        bad = await person.post("/manage/users", data={"csrf_token": token, "role": "manager"})
        assert bad.status_code == 400
        invited = await person.post(
            "/manage/users",
            data={
                "csrf_token": token,
                "email": "noor@example.com",
                "name": "Noor",
                "role": "manager",
            },
        )
        assert invited.status_code == 303
        new_id = int(invited.headers["location"].rsplit(":", 1)[1])
        again = await person.post(
            "/manage/users",
            data={"csrf_token": token, "email": "NOOR@example.com", "role": "owner"},
        )
        assert again.status_code == 409
        listed = await person.get(invited.headers["location"])
        assert f"User {new_id} invited." in listed.text
        assert "noor@example.com" in listed.text
        off = await person.post(
            f"/manage/users/{new_id}", data={"csrf_token": token, "action": "disable"}
        )
        assert off.status_code == 303
        assert (await client.get(f"/api/v1/users/{new_id}", headers=admin)).json()["disabled"]
        self_off = await person.post(
            f"/manage/users/{owner['id']}", data={"csrf_token": token, "action": "disable"}
        )
        assert self_off.status_code == 409
        on = await person.post(
            f"/manage/users/{new_id}", data={"csrf_token": token, "action": "enable"}
        )
        assert on.status_code == 303
    shown = (await client.get(f"/api/v1/users/{new_id}", headers=admin)).json()
    assert (shown["disabled"], shown["role"], shown["created_by"]) == (
        False,
        "manager",
        f"admin:{owner['key_id']}",
    )
    # The invite mailed from the portal sets a password and signs Noor in.
    async with browser(app) as noor:
        assert (
            await set_password(noor, await mailed_path(pool, new_id, "user_invite"))
        ).status_code == 303
        # A manager has no users screen.
        assert (await noor.get("/manage/users")).status_code == 404
        page = await noor.get("/manage")
        assert 'href="/manage/users"' not in page.text
        posted = await noor.post(
            f"/manage/users/{owner['id']}", data={"csrf_token": csrf_of(page), "action": "disable"}
        )
        assert posted.status_code == 404
    assert not (await client.get(f"/api/v1/users/{owner['id']}", headers=admin)).json()["disabled"]
