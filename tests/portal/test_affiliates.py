"""The managers' affiliates screens over HTTP: the list and its applications queue, one
affiliate's profile, and the changes made from them, checked against the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.stats import factory
from tests.support.portal import browser, csrf_of, make_user, sign_in


def _listed(page: httpx.Response, table: str) -> set[str]:
    """The affiliate names a table of the page lists."""
    body = page.text.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r'<a href="/manage/affiliates/\d+">([^<]+)</a>', body))


async def _apply(client: httpx.AsyncClient, name: str, email: str) -> None:
    response = await client.post(
        "/apply", json={"name": name, "email": email, "traffic_sources": "a newsletter"}
    )
    assert response.status_code == 202, response.text


async def _applicant(pool: Pool, email: str) -> int:
    found: int = await pool.fetchval("SELECT id FROM affiliates WHERE email = $1", email)
    return found


async def test_the_owner_sees_every_affiliate_and_approves_from_the_queue(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _apply(client, "Carol", "carol@aff.example")
    await _apply(client, "Dave", "dave@aff.example")
    carol, dave = (
        await _applicant(pool, "carol@aff.example"),
        await _applicant(pool, "dave@aff.example"),
    )
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get("/manage/affiliates")
        assert page.status_code == 200
        assert 'href="/manage/affiliates" aria-current="page"' in page.text
        assert _listed(page, "queue") == {"Carol", "Dave"}
        assert _listed(page, "affiliates") == {"Alice", "Bob", "Carol", "Dave"}
        applied = await person.get("/manage/affiliates?status=active")
        assert _listed(applied, "affiliates") == {"Alice", "Bob"}

        approved = await person.post(
            f"/manage/affiliates/{carol}/status",
            data={"csrf_token": csrf_of(page), "action": "approve", "back": "/manage/affiliates"},
        )
        assert approved.status_code == 303
        assert approved.headers["location"] == f"/manage/affiliates?done=approve:{carol}"
        after = await person.get(approved.headers["location"])
        assert f"Affiliate {carol} approved." in after.text
        assert _listed(after, "queue") == {"Dave"}
        rejected = await person.post(
            f"/manage/affiliates/{dave}/status",
            data={"csrf_token": csrf_of(page), "action": "reject"},
        )
        assert rejected.headers["location"] == f"/manage/affiliates/{dave}?done=reject:{dave}"
        # A move the lifecycle refuses is said, and nothing changes.
        again = await person.post(
            f"/manage/affiliates/{dave}/status",
            data={"csrf_token": csrf_of(page), "action": "suspend"},
        )
        assert again.status_code == 409
        assert "suspend needs it active" in again.text
        # Without the token: refused, the status as it was.
        tokenless = await person.post(
            f"/manage/affiliates/{dave}/status", data={"action": "approve"}
        )
        assert tokenless.status_code == 403
        assert "security token" in tokenless.text
        unknown = await person.post(
            f"/manage/affiliates/{dave}/status",
            data={"csrf_token": csrf_of(page), "action": "archive"},
        )
        assert unknown.status_code == 403

    for affiliate_id, status in ((carol, "active"), (dave, "rejected")):
        seen = await client.get(f"/api/v1/affiliates/{affiliate_id}", headers=admin)
        assert seen.json()["status"] == status
    history = await client.get(f"/api/v1/affiliates/{carol}/history", headers=admin)
    [change] = history.json()["items"][1:]
    assert (change["from"], change["to"], change["actor_role"]) == ("applied", "active", "admin")


async def test_the_profile_shows_links_and_numbers_and_changes_group_and_notes(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice = catalog["alice"]["id"]
    at = datetime.now(UTC) - timedelta(days=2)
    clicks = [factory.click(catalog["alice_link"], at, currency="USD") for _ in range(3)]
    assert await factory.store_clicks(pool, clicks) == 3
    group = await client.post("/api/v1/groups", json={"name": "Gold", "rank": 2}, headers=admin)
    assert group.status_code == 201, group.text
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        await sign_in(person, "owner@example.com")
        page = await person.get(f"/manage/affiliates/{alice}")
        assert page.status_code == 200
        assert "<h1>Alice" in page.text
        assert f"/c/{catalog['alice_link']['code']}</code>" in page.text
        assert catalog["bob_link"]["code"] not in page.text
        assert '<dd data-metric="clicks">3</dd>' in page.text
        assert '<dd id="group">none</dd>' in page.text

        moved = await person.post(
            f"/manage/affiliates/{alice}/group",
            data={"csrf_token": csrf_of(page), "group_id": str(group.json()["id"])},
        )
        assert moved.status_code == 303
        noted = await person.post(
            f"/manage/affiliates/{alice}/notes",
            data={"csrf_token": csrf_of(page), "text": "Asked for <b>more</b> banners"},
        )
        assert noted.status_code == 303
        empty = await person.post(
            f"/manage/affiliates/{alice}/notes", data={"csrf_token": csrf_of(page), "text": " "}
        )
        assert empty.status_code == 400
        shown = await person.get(noted.headers["location"])
        assert '<dd id="group">Gold</dd>' in shown.text
        assert "Asked for &lt;b&gt;more&lt;/b&gt; banners" in shown.text
        assert (await person.get("/manage/affiliates/999999")).status_code == 404
        assert (await person.get("/manage/affiliates/x1")).status_code == 404

    api = await client.get(f"/api/v1/affiliates/{alice}", headers=admin)
    assert api.json()["group_id"] == group.json()["id"]
    api_notes = await client.get(f"/api/v1/affiliates/{alice}/notes", headers=admin)
    assert [n["text"] for n in api_notes.json()["items"]] == ["Asked for <b>more</b> banners"]


async def test_a_manager_sees_only_the_affiliates_assigned_to_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await _apply(client, "Carol", "carol@aff.example")
    await _apply(client, "Erin", "erin@aff.example")
    carol, erin = (
        await _applicant(pool, "carol@aff.example"),
        await _applicant(pool, "erin@aff.example"),
    )
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    for affiliate_id in (alice, carol):
        assigned = await client.patch(
            f"/api/v1/affiliates/{affiliate_id}",
            json={"manager_id": mia["key_id"]},
            headers=admin,
        )
        assert assigned.status_code == 200, assigned.text
    alice_user = await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    assert alice_user["affiliate_id"] == alice

    async with browser(app) as person:
        await sign_in(person, "mia@example.com")
        page = await person.get("/manage/affiliates")
        assert "You see the 2 affiliates assigned to you." in page.text
        assert _listed(page, "affiliates") == {"Alice", "Carol"}
        assert _listed(page, "queue") == {"Carol"}
        assert "Bob" not in page.text
        assert "Erin" not in page.text
        token = csrf_of(page)
        for other in (bob, erin):
            shown = await person.get(f"/manage/affiliates/{other}")
            assert shown.status_code == 404
            assert "Bob" not in shown.text
            refused = await person.post(
                f"/manage/affiliates/{other}/status", data={"csrf_token": token, "action": "reject"}
            )
            assert refused.status_code == 404
            for form in ("group", "notes"):
                response = await person.post(
                    f"/manage/affiliates/{other}/{form}",
                    data={"csrf_token": token, "group_id": "", "text": "x"},
                )
                assert response.status_code == 404
        assert (await person.get(f"/manage/affiliates/{alice}")).status_code == 200
        approved = await person.post(
            f"/manage/affiliates/{carol}/status", data={"csrf_token": token, "action": "approve"}
        )
        assert approved.status_code == 303
    statuses = {
        r["id"]: r["status"]
        for r in await pool.fetch(
            "SELECT id, status FROM affiliates WHERE id = ANY($1)", [carol, erin]
        )
    }
    assert statuses == {carol: "active", erin: "applied"}
    history = await client.get(f"/api/v1/affiliates/{carol}/history", headers=admin)
    assert history.json()["items"][-1]["actor_key_id"] == mia["key_id"]

    async with browser(app) as person:
        await sign_in(person, "alice@example.com")
        assert (await person.get("/manage/affiliates")).status_code == 404
        assert (await person.get(f"/manage/affiliates/{alice}")).status_code == 404
    async with browser(app) as nobody:
        assert (await nobody.get("/manage/affiliates")).headers["location"] == "/"
