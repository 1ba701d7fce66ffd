from __future__ import annotations

import re
from typing import Any

import asyncpg
import httpx
import pytest

from app.catalog import links as link_service
from app.errors import Conflict
from tests.catalog.conftest import offer_body
from tests.helpers import assert_error, create

API = "/api/v1/links"


async def count(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval("SELECT count(*) FROM links")
    return value


async def get(client: httpx.AsyncClient, admin: dict[str, str], link_id: int) -> dict[str, Any]:
    response = await client.get(f"{API}/{link_id}", headers=admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture
def link_body(affiliate: dict[str, Any], offer: dict[str, Any]) -> dict[str, Any]:
    return {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}


async def test_create_generates_an_unguessable_code(
    client: httpx.AsyncClient, admin: dict[str, str], link_body: dict[str, Any]
) -> None:
    links = [await create(client, "links", link_body, admin) for _ in range(20)]

    codes = {link["code"] for link in links}
    assert len(codes) == 20
    for link in links:
        assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", link["code"])
        assert link["tracking_url"] == f"http://tracker.test/c/{link['code']}"
        assert link["status"] == "active"
        assert link["affiliate_id"] == link_body["affiliate_id"]
        assert link["offer_id"] == link_body["offer_id"]
    # Not a counter or anything else derived from the ID.
    assert str(links[0]["id"]) not in links[0]["code"]


async def test_create_keeps_a_chosen_code(
    client: httpx.AsyncClient, admin: dict[str, str], link_body: dict[str, Any]
) -> None:
    link = await create(client, "links", {**link_body, "code": "spring_Sale-2026"}, admin)

    assert link["code"] == "spring_Sale-2026"
    assert link["tracking_url"] == "http://tracker.test/c/spring_Sale-2026"
    assert await get(client, admin, link["id"]) == link


async def test_a_taken_code_is_a_conflict(
    client: httpx.AsyncClient, admin: dict[str, str], link_body: dict[str, Any], pool: asyncpg.Pool
) -> None:
    first = await create(client, "links", {**link_body, "code": "promo"}, admin)
    other_affiliate = await create(client, "affiliates", {"name": "Bob"}, admin)

    response = await client.post(
        API,
        json={**link_body, "affiliate_id": other_affiliate["id"], "code": "promo"},
        headers=admin,
    )

    assert_error(response, 409, "duplicate_code")
    assert await count(pool) == 1
    assert await get(client, admin, first["id"]) == first


async def test_a_link_may_point_at_a_paused_offer(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    affiliate: dict[str, Any],
) -> None:
    paused = await create(client, "offers", offer_body(advertiser["id"], status="paused"), admin)

    link = await create(
        client, "links", {"affiliate_id": affiliate["id"], "offer_id": paused["id"]}, admin
    )

    assert link["offer_id"] == paused["id"]


async def test_list_filters_and_pages(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    second_offer = await create(client, "offers", offer_body(advertiser["id"]), admin)
    a1 = await create(
        client, "links", {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}, admin
    )
    a2 = await create(
        client, "links", {"affiliate_id": affiliate["id"], "offer_id": second_offer["id"]}, admin
    )
    b1 = await create(client, "links", {"affiliate_id": bob["id"], "offer_id": offer["id"]}, admin)
    await client.delete(f"{API}/{a2['id']}", headers=admin)

    async def ids(**params: Any) -> list[int]:
        response = await client.get(API, params=params, headers=admin)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [a1["id"], a2["id"], b1["id"]]
    assert await ids(affiliate_id=affiliate["id"]) == [a1["id"], a2["id"]]
    assert await ids(offer_id=offer["id"]) == [a1["id"], b1["id"]]
    assert await ids(status="archived") == [a2["id"]]
    assert await ids(affiliate_id=bob["id"], offer_id=second_offer["id"]) == []

    first = (await client.get(API, params={"limit": 2}, headers=admin)).json()
    assert [item["id"] for item in first["items"]] == [a1["id"], a2["id"]]
    rest = (
        await client.get(API, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()
    assert rest == {"items": [b1], "next_cursor": None}


async def test_patch_archives_and_reactivates(
    client: httpx.AsyncClient, admin: dict[str, str], link_body: dict[str, Any]
) -> None:
    link = await create(client, "links", link_body, admin)

    archived = await client.patch(f"{API}/{link['id']}", json={"status": "archived"}, headers=admin)
    assert archived.status_code == 200
    assert (await get(client, admin, link["id"]))["status"] == "archived"

    active = await client.patch(f"{API}/{link['id']}", json={"status": "active"}, headers=admin)
    assert active.status_code == 200
    stored = await get(client, admin, link["id"])
    assert stored == {**link, "updated_at": stored["updated_at"]}


async def test_delete_archives_and_never_removes(
    client: httpx.AsyncClient, admin: dict[str, str], link_body: dict[str, Any], pool: asyncpg.Pool
) -> None:
    link = await create(client, "links", link_body, admin)

    response = await client.delete(f"{API}/{link['id']}", headers=admin)

    assert response.status_code == 204
    stored = await get(client, admin, link["id"])
    assert stored["status"] == "archived"
    assert stored["code"] == link["code"]
    assert await count(pool) == 1
    # Deleting again keeps it archived (and still there).
    assert (await client.delete(f"{API}/{link['id']}", headers=admin)).status_code == 204
    assert await count(pool) == 1


BAD_LINK_FIELDS = [
    pytest.param({"code": "ab"}, id="code-too-short"),
    pytest.param({"code": "x" * 65}, id="code-too-long"),
    pytest.param({"code": "has space"}, id="code-space"),
    pytest.param({"code": "a/b/c"}, id="code-slash"),
    pytest.param({"code": "ünïcode"}, id="code-unicode"),
    pytest.param({"code": "abc\ndef"}, id="code-newline"),
    pytest.param({"code": 12345}, id="code-number"),
    pytest.param({"affiliate_id": "one"}, id="affiliate-text"),
    pytest.param({"affiliate_id": None}, id="affiliate-null"),
    pytest.param({"affiliate_id": 0}, id="affiliate-0"),
    pytest.param({"offer_id": 1.5}, id="offer-fraction"),
    pytest.param({"offer_id": -1}, id="offer-negative"),
    pytest.param({"status": "archived"}, id="status-on-create"),
    pytest.param({"url": "https://elsewhere.example/"}, id="unknown-field"),
]


@pytest.mark.parametrize("fields", BAD_LINK_FIELDS)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    link_body: dict[str, Any],
    pool: asyncpg.Pool,
    fields: dict[str, Any],
) -> None:
    response = await client.post(API, json={**link_body, **fields}, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await count(pool) == 0


@pytest.mark.parametrize("field", ["affiliate_id", "offer_id"])
async def test_create_rejects_unknown_references(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    link_body: dict[str, Any],
    pool: asyncpg.Pool,
    field: str,
) -> None:
    response = await client.post(API, json={**link_body, field: 999}, headers=admin)

    assert_error(response, 409, "invalid_reference")
    assert await count(pool) == 0


async def test_create_rejects_malformed_json(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.post(
        API,
        content=b'{"offer_id": 1 "affiliate_id": 1}',
        headers={**admin, "Content-Type": "application/json"},
    )

    assert_error(response, 400, "invalid_json")
    assert await count(pool) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"code": "new-code"}, id="code-is-fixed"),
        pytest.param({"offer_id": 2}, id="target-is-fixed"),
        pytest.param({"status": "paused"}, id="status-unknown"),
        pytest.param({"status": None}, id="status-null"),
        pytest.param({}, id="empty"),
    ],
)
async def test_patch_rejects_bad_input_and_changes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    link_body: dict[str, Any],
    body: dict[str, Any],
) -> None:
    link = await create(client, "links", link_body, admin)

    response = await client.patch(f"{API}/{link['id']}", json=body, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await get(client, admin, link["id"]) == link


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"status": "archived"}), ("DELETE", None)],
)
async def test_unknown_id_is_404(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    link_body: dict[str, Any],
    method: str,
    body: dict[str, Any] | None,
) -> None:
    link = await create(client, "links", link_body, admin)

    response = await client.request(method, f"{API}/{link['id'] + 1}", json=body, headers=admin)

    assert_error(response, 404, "not_found")
    assert await get(client, admin, link["id"]) == link


@pytest.mark.parametrize("bad_id", ["0", str(2**63), "code"])
async def test_malformed_path_id_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    assert_error(await client.get(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")


async def test_link_for_takes_the_active_link_or_makes_one(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    first, made = await link_service.link_for(
        pool, affiliate_id=affiliate["id"], offer_id=offer["id"], public_url="http://t.example"
    )
    assert made
    assert first.tracking_url == f"http://t.example/c/{first.code}"
    again, made_again = await link_service.link_for(
        pool, affiliate_id=affiliate["id"], offer_id=offer["id"], public_url="http://t.example"
    )
    assert (again, made_again) == (first, False)
    # Another affiliate on the same offer: its own link.
    bobs, _ = await link_service.link_for(
        pool, affiliate_id=bob["id"], offer_id=offer["id"], public_url="http://t.example"
    )
    assert bobs.id != first.id
    # Archived: a new one is made (the archived code keeps going to the fallback).
    await client.delete(f"{API}/{first.id}", headers=admin)
    fresh, made_fresh = await link_service.link_for(
        pool, affiliate_id=affiliate["id"], offer_id=offer["id"], public_url="http://t.example"
    )
    assert made_fresh
    assert fresh.id not in (first.id, bobs.id)
    assert await count(pool) == 3
    # An archived offer takes no new link: the create service's own refusal.
    archived = await create(client, "offers", offer_body(advertiser["id"]), admin)
    await create(client, "links", {"affiliate_id": bob["id"], "offer_id": archived["id"]}, admin)
    assert (
        await client.delete(f"/api/v1/offers/{archived['id']}", headers=admin)
    ).status_code == 204
    with pytest.raises(Conflict, match="is archived"):
        await link_service.link_for(
            pool, affiliate_id=affiliate["id"], offer_id=archived["id"], public_url=""
        )


async def test_list_among_some_affiliates_only(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    carol = await create(client, "affiliates", {"name": "Carol"}, admin)
    for a in (affiliate, bob, carol):
        await create(client, "links", {"affiliate_id": a["id"], "offer_id": offer["id"]}, admin)

    async def listed(among: list[int] | None, **filters: Any) -> list[int]:
        query = link_service.LinkQuery(**filters)
        page = await link_service.list_links(pool, query=query, public_url="", among=among)
        return [link.affiliate_id for link in page.items]

    assert await listed(None) == [affiliate["id"], bob["id"], carol["id"]]
    assert await listed([bob["id"], carol["id"]]) == [bob["id"], carol["id"]]
    assert await listed([]) == []
    assert await listed([bob["id"]], affiliate_id=carol["id"]) == []
    assert await listed([bob["id"]], offer_id=offer["id"]) == [bob["id"]]
