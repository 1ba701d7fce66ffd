from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create
from tests.support.conversions import click, postback, run_worker

API = "/api/v1/groups"
PROMOTION = {"metric": "clicks", "window_days": 7, "min": "3"}


async def test_a_group_is_created_read_changed_and_deleted(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any]
) -> None:
    offer = shop["offer"]["id"]
    body = {
        "name": "Gold",
        "rank": 3,
        "rules": [{"offer_id": offer, "type": "percent", "value": "12.5"}],
        "default": {"type": "fixed", "value": "1"},
        "promotion": {**PROMOTION, "demote": True},
    }

    made = await create(client, "groups", body, admin)

    assert made["rules"] == [{"offer_id": offer, "type": "percent", "value": "12.50"}]
    assert made["default"] == {"type": "fixed", "value": "1.00"}
    assert made["promotion"] == {**PROMOTION, "min": "3.00", "currency": None, "demote": True}
    assert (await client.get(f"{API}/{made['id']}", headers=admin)).json() == made
    patched = await client.patch(
        f"{API}/{made['id']}", json={"default": None, "rules": [], "name": "Gold+"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["default"], patched.json()["rules"]) == (None, [])
    assert patched.json()["promotion"] == made["promotion"]
    assert (await client.get(API, headers=admin)).json()["items"] == [patched.json()]
    assert (await client.delete(f"{API}/{made['id']}", headers=admin)).status_code == 204
    assert_error(await client.get(f"{API}/{made['id']}", headers=admin), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X"},
        {"name": "X", "rank": "1"},
        {"name": "X", "rank": 1, "default": {"type": "percent", "value": "101"}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "metric": "visits"}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "window_days": 0}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "min": "-1"}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "metric": "revenue"}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "currency": "USD"}},
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "currency": "XXX"}},
        # Money in groups is a decimal string only.
        {"name": "X", "rank": 1, "promotion": {**PROMOTION, "min": 3}},
        {"name": "X", "rank": 1, "default": {"type": "fixed", "value": 1}},
        {
            "name": "X",
            "rank": 1,
            "rules": [
                {"offer_id": 1, "type": "fixed", "value": "1"},
                {"offer_id": 1, "type": "fixed", "value": "2"},
            ],
        },
    ],
)
async def test_bad_groups_are_400(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, body: dict[str, Any]
) -> None:
    assert_error(await client.post(API, json=body, headers=admin), 400)
    assert await pool.fetchval("SELECT count(*) FROM commission_groups") == 0


async def test_conflicts_are_409_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any], pool: asyncpg.Pool
) -> None:
    gold = await create(client, "groups", {"name": "Gold", "rank": 3}, admin)
    for body in (
        {"name": "Gold", "rank": 4},
        {"name": "Other", "rank": 3},
        {"name": "Other", "rank": 4, "rules": [{"offer_id": 99, "type": "fixed", "value": "1"}]},
    ):
        response = await client.post(API, json=body, headers=admin)
        assert response.status_code == 409, response.text
    silver = await create(client, "groups", {"name": "Silver", "rank": 2}, admin)
    assert_error(
        await client.patch(f"{API}/{silver['id']}", json={"rank": 3}, headers=admin),
        409,
        "duplicate_group",
    )
    assert_error(
        await client.patch(f"{API}/{silver['id']}", json={"name": None}, headers=admin), 400
    )
    await client.patch(
        f"/api/v1/affiliates/{affiliate['id']}", json={"group_id": gold["id"]}, headers=admin
    )
    assert_error(await client.delete(f"{API}/{gold['id']}", headers=admin), 409, "group_in_use")
    assert [r["name"] for r in await pool.fetch("SELECT name FROM commission_groups")] == [
        "Gold",
        "Silver",
    ]


async def test_groups_are_admin_only(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    gold = await create(client, "groups", {"name": "Gold", "rank": 3}, admin)
    own = await affiliate_headers(client, admin, affiliate["id"])
    for method, path, body in (
        ("GET", API, None),
        ("POST", API, {"name": "Mine", "rank": 9}),
        ("GET", f"{API}/{gold['id']}", None),
        ("PATCH", f"{API}/{gold['id']}", {"rank": 9}),
        ("DELETE", f"{API}/{gold['id']}", None),
        ("POST", f"{API}/evaluate", None),
    ):
        response = await client.request(method, path, json=body, headers=own)
        assert_error(response, 403, "forbidden")
        assert_error(await client.request(method, path, json=body), 401)


async def test_payout_precedence_override_then_group_then_offer(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    """Offer pays 2.50. Alice: her group's rule for the offer (3.00). Bob: his group has
    no rule for it, so its default (10% of 80 = 8.00). Carol: no group (2.50). Dave: an
    override (5.00) beats his group's rule."""
    offer = shop["offer"]["id"]
    with_rule = await create(
        client,
        "groups",
        {
            "name": "Rule",
            "rank": 2,
            "rules": [{"offer_id": offer, "type": "fixed", "value": "3.00"}],
            "default": {"type": "fixed", "value": "1.00"},
        },
        admin,
    )
    by_default = await create(
        client,
        "groups",
        {"name": "Default", "rank": 1, "default": {"type": "percent", "value": "10"}},
        admin,
    )
    people = {"alice": shop["alice"], "bob": shop["bob"]}
    links = {"alice": shop["alice_link"], "bob": shop["bob_link"]}
    for name in ("carol", "dave"):
        people[name] = await create(client, "affiliates", {"name": name}, admin)
        links[name] = await create(
            client, "links", {"affiliate_id": people[name]["id"], "offer_id": offer}, admin
        )
    for name, group in (("alice", with_rule), ("bob", by_default), ("dave", with_rule)):
        response = await client.patch(
            f"/api/v1/affiliates/{people[name]['id']}",
            json={"group_id": group["id"]},
            headers=admin,
        )
        assert response.status_code == 200, response.text
    overrides = [{"affiliate_id": people["dave"]["id"], "type": "fixed", "value": "5.00"}]
    assert (
        await client.patch(
            f"/api/v1/offers/{offer}", json={"payout_overrides": overrides}, headers=admin
        )
    ).status_code == 200

    clicks = {name: await click(app, client, links[name]["code"]) for name in people}
    await run_worker(settings)
    for name, click_id in clicks.items():
        answer = await postback(client, shop["token"], click_id=click_id, txid=name, amount="80")
        assert answer.status_code == 200, answer.text
    await run_worker(settings)

    rows = await pool.fetch("SELECT txid, affiliate_id, payout, status FROM conversions")
    assert {r["txid"]: (r["affiliate_id"], str(r["payout"])) for r in rows} == {
        "alice": (people["alice"]["id"], "3.0000"),
        "bob": (people["bob"]["id"], "8.0000"),
        "carol": (people["carol"]["id"], "2.5000"),
        "dave": (people["dave"]["id"], "5.0000"),
    }


async def test_a_group_move_by_patch_is_in_the_history(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    gold = await create(client, "groups", {"name": "Gold", "rank": 3}, admin)
    path = f"/api/v1/affiliates/{affiliate['id']}"
    await client.patch(path, json={"group_id": gold["id"]}, headers=admin)
    await client.patch(path, json={"group_id": gold["id"]}, headers=admin)
    await client.patch(path, json={"group_id": None}, headers=admin)

    steps = (await client.get(f"{path}/history", headers=admin)).json()["items"]
    assert [(s["kind"], s["from"], s["to"]) for s in steps] == [
        ("status", None, "active"),
        ("group", None, str(gold["id"])),
        ("group", str(gold["id"]), None),
    ]
