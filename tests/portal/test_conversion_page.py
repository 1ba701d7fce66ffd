"""A conversion's record in the managers' console: its money, its click, its history."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.support.portal import browser, clicked_conversion, csrf_of, make_user, sign_in


async def _pending(pool: Pool, catalog: dict[str, Any], link: str) -> int:
    return await clicked_conversion(
        pool,
        catalog,
        link,
        status="pending",
        sub1="spring-mail",
        revenue=Decimal("40.00"),
        payout=Decimal("12.50"),
    )


async def test_a_conversion_shows_its_click_and_who_changed_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alices = await _pending(pool, catalog, "alice_link")
    bobs = await _pending(pool, catalog, "bob_link")
    owner = await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    assigned = await client.patch(
        f"/api/v1/affiliates/{catalog['alice']['id']}",
        json={"manager_id": mia["key_id"]},
        headers=admin,
    )
    assert assigned.status_code == 200, assigned.text
    async with browser(app) as person:
        assert (await sign_in(person, "owner@example.com")).status_code == 303
        log = await person.get("/manage/conversions")
        assert f'href="/manage/conversions/{alices}"' in log.text
        decided = await person.post(
            f"/manage/conversions/{alices}",
            data={"csrf_token": csrf_of(log), "action": "approve"},
        )
        assert decided.status_code == 303
        page = await person.get(f"/manage/conversions/{alices}")
        assert page.status_code == 200
        text = page.text
        assert "12.50 USD" in text
        assert "40.00 USD" in text
        assert "spring-mail" in text
        assert "pending &rarr; " in text
        assert f"admin:{owner['key_id']}" in text
        for wrong in ("abc", "0", "99999999999999999999", "999999"):
            missing = await person.get(f"/manage/conversions/{wrong}")
            assert missing.status_code == 404, wrong
    # What the page says is the API's history.
    api = await client.get(f"/api/v1/conversions/{alices}/history", headers=admin)
    assert [(h["old_status"], h["new_status"]) for h in api.json()] == [
        (None, "pending"),
        ("pending", "approved"),
    ]
    async with browser(app) as manager:
        assert (await sign_in(manager, "mia@example.com")).status_code == 303
        assert (await manager.get(f"/manage/conversions/{alices}")).status_code == 200
        hidden = await manager.get(f"/manage/conversions/{bobs}")
        assert hidden.status_code == 404
        assert "12.50" not in hidden.text


async def test_ticked_conversions_are_decided_together_and_only_the_staffs(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alices = [await _pending(pool, catalog, "alice_link") for _ in range(3)]
    bobs = await _pending(pool, catalog, "bob_link")
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    assigned = await client.patch(
        f"/api/v1/affiliates/{catalog['alice']['id']}",
        json={"manager_id": mia["key_id"]},
        headers=admin,
    )
    assert assigned.status_code == 200, assigned.text

    async def statuses() -> dict[int, str]:
        rows = await pool.fetch("SELECT id, status FROM conversions")
        return {r["id"]: r["status"] for r in rows}

    async with browser(app) as manager:
        assert (await sign_in(manager, "mia@example.com")).status_code == 303
        log = await manager.get("/manage/conversions")
        for conversion_id in alices:
            assert f'name="ids" value="{conversion_id}" form="bulk"' in log.text
        token = csrf_of(log)
        # Another manager's conversion among the ticked: a 404 page, and none changes.
        mixed = await manager.post(
            "/manage/conversions/decide",
            data={"csrf_token": token, "action": "approve", "ids": [alices[0], bobs]},
        )
        assert mixed.status_code == 404
        assert set((await statuses()).values()) == {"pending"}
        # Without the token: refused, none changes.
        refused = await manager.post(
            "/manage/conversions/decide", data={"action": "approve", "ids": alices}
        )
        assert refused.status_code == 403
        assert set((await statuses()).values()) == {"pending"}
        nothing = await manager.post(
            "/manage/conversions/decide", data={"csrf_token": token, "action": "approve"}
        )
        assert nothing.status_code == 403
        assert "Tick one or more" in nothing.text
        done = await manager.post(
            "/manage/conversions/decide",
            data={"csrf_token": token, "action": "reject", "ids": alices[:2], "back": "/x"},
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/manage/conversions?done=rejected:2:many"
        after = await manager.get(done.headers["location"])
        assert "2 conversions rejected." in after.text
    now = await statuses()
    assert [now[i] for i in alices] == ["rejected", "rejected", "pending"]
    assert now[bobs] == "pending"
    history = await client.get(f"/api/v1/conversions/{alices[0]}/history", headers=admin)
    assert history.json()[-1]["changed_by"] == f"admin:{mia['key_id']}"
