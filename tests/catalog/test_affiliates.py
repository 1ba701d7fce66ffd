from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import assert_error, create

API = "/api/v1/affiliates"
POSTBACK = "https://aff.example/pb?c={aff_click_id}&p={payout}&s={status}&e={event}&t={txid}"


async def count(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval("SELECT count(*) FROM affiliates")
    return value


async def get(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate_id: int
) -> dict[str, Any]:
    response = await client.get(f"{API}/{affiliate_id}", headers=admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_create_applies_defaults(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    affiliate = await create(client, "affiliates", {"name": "Alice"}, admin)

    assert isinstance(affiliate["id"], int)
    assert affiliate["name"] == "Alice"
    assert affiliate["email"] is None
    assert affiliate["postback_url"] is None
    assert affiliate["postback_method"] == "GET"
    assert affiliate["postback_on"] == "approved"
    assert affiliate["status"] == "active"


async def test_create_stores_every_field(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = {
        "name": "Alice",
        "email": "alice@aff.example",
        "postback_url": POSTBACK + "&x={click_id}{sub1}{sub2}{sub3}{sub4}{sub5}",
        "postback_method": "POST",
        "postback_on": "all",
        "status": "paused",
    }

    affiliate = await create(client, "affiliates", body, admin)

    # `paused`, the name from before the lifecycle, is taken as `suspended`.
    assert {k: affiliate[k] for k in body} == {**body, "status": "suspended"}
    assert await get(client, admin, affiliate["id"]) == affiliate


async def test_list_pages_through_every_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = [(await create(client, "affiliates", {"name": f"A{i}"}, admin)) for i in range(3)]

    first = (await client.get(API, params={"limit": 2}, headers=admin)).json()
    second = (
        await client.get(API, params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()

    assert first["items"] == created[:2]
    assert first["next_cursor"] is not None
    assert second == {"items": created[2:], "next_cursor": None}


async def test_list_filters_by_status(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await create(client, "affiliates", {"name": "Active"}, admin)
    paused = await create(client, "affiliates", {"name": "Paused", "status": "paused"}, admin)

    page = (await client.get(API, params={"status": "paused"}, headers=admin)).json()

    assert page["items"] == [paused]


async def test_patch_changes_only_the_fields_given(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    affiliate = await create(
        client,
        "affiliates",
        {"name": "Alice", "email": "alice@aff.example", "postback_url": POSTBACK},
        admin,
    )

    response = await client.patch(
        f"{API}/{affiliate['id']}", json={"status": "paused", "postback_on": "all"}, headers=admin
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched == {
        **affiliate,
        "status": "suspended",
        "postback_on": "all",
        "updated_at": patched["updated_at"],
    }
    assert await get(client, admin, affiliate["id"]) == patched


async def test_patch_null_clears_email_and_postback_url(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    affiliate = await create(
        client,
        "affiliates",
        {"name": "Alice", "email": "alice@aff.example", "postback_url": POSTBACK},
        admin,
    )

    response = await client.patch(
        f"{API}/{affiliate['id']}", json={"email": None, "postback_url": None}, headers=admin
    )

    assert response.status_code == 200
    stored = await get(client, admin, affiliate["id"])
    assert stored["email"] is None
    assert stored["postback_url"] is None
    assert stored["name"] == "Alice"


async def test_delete_removes_an_unreferenced_affiliate(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any], pool: asyncpg.Pool
) -> None:
    response = await client.delete(f"{API}/{affiliate['id']}", headers=admin)

    assert response.status_code == 204
    assert_error(await client.get(f"{API}/{affiliate['id']}", headers=admin), 404, "not_found")
    assert await count(pool) == 0


async def test_delete_archives_an_affiliate_with_a_link(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    await create(client, "links", {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}, admin)

    response = await client.delete(f"{API}/{affiliate['id']}", headers=admin)

    assert response.status_code == 204
    assert (await get(client, admin, affiliate["id"]))["status"] == "archived"


async def test_delete_archives_an_affiliate_with_a_key(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any]
) -> None:
    await create(client, "keys", {"role": "affiliate", "affiliate_id": affiliate["id"]}, admin)

    response = await client.delete(f"{API}/{affiliate['id']}", headers=admin)

    assert response.status_code == 204
    assert (await get(client, admin, affiliate["id"]))["status"] == "archived"


async def test_delete_archives_an_affiliate_named_in_an_offer_rule(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    override = {"affiliate_id": affiliate["id"], "type": "fixed", "value": "1"}
    patched = await client.patch(
        f"/api/v1/offers/{offer['id']}", json={"payout_overrides": [override]}, headers=admin
    )
    assert patched.status_code == 200

    response = await client.delete(f"{API}/{affiliate['id']}", headers=admin)

    assert response.status_code == 204
    assert (await get(client, admin, affiliate["id"]))["status"] == "archived"


async def test_an_archived_affiliate_gets_no_new_links(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    offer: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    body = {"affiliate_id": affiliate["id"], "offer_id": offer["id"]}
    await create(client, "links", body, admin)
    await client.delete(f"{API}/{affiliate['id']}", headers=admin)

    assert_error(await client.post("/api/v1/links", json=body, headers=admin), 409)
    assert await pool.fetchval("SELECT count(*) FROM links") == 1


BAD_AFFILIATE_FIELDS = [
    pytest.param({"name": ""}, id="name-empty"),
    pytest.param({"name": None}, id="name-null"),
    pytest.param({"name": 12}, id="name-number"),
    pytest.param({"email": "not-an-email"}, id="email-invalid"),
    pytest.param({"email": 5}, id="email-number"),
    pytest.param({"postback_url": "https://aff.example/pb?x={foo}"}, id="unknown-macro"),
    pytest.param({"postback_url": "https://aff.example/pb?x={sub6}"}, id="sub6-macro"),
    pytest.param(
        {"postback_url": "https://aff.example/pb?x={affiliate_id}"}, id="offer-only-macro"
    ),
    pytest.param({"postback_url": "https://{click_id}.aff.example/"}, id="macro-in-host"),
    pytest.param({"postback_url": "javascript:alert(1)"}, id="javascript-url"),
    pytest.param({"postback_url": "aff.example/pb"}, id="relative-url"),
    pytest.param({"postback_method": "PUT"}, id="method"),
    pytest.param({"postback_on": "pending"}, id="postback-on"),
    pytest.param({"status": "archived"}, id="status-archived"),
    pytest.param({"status": "deleted"}, id="status-unknown"),
    pytest.param({"signing_secret": "s3cret"}, id="unknown-field"),
]


@pytest.mark.parametrize("fields", BAD_AFFILIATE_FIELDS)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, fields: dict[str, Any]
) -> None:
    response = await client.post(API, json={"name": "Alice", **fields}, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await count(pool) == 0


async def test_create_rejects_malformed_json(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.post(
        API, content=b"{'name': 'Alice'}", headers={**admin, "Content-Type": "application/json"}
    )

    assert_error(response, 400, "invalid_json")
    assert await count(pool) == 0


@pytest.mark.parametrize(
    "fields",
    [
        *BAD_AFFILIATE_FIELDS,
        pytest.param({"status": None}, id="status-null"),
        pytest.param({"postback_method": None}, id="method-null"),
    ],
)
async def test_patch_rejects_bad_input_and_changes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    fields: dict[str, Any],
) -> None:
    response = await client.patch(f"{API}/{affiliate['id']}", json=fields, headers=admin)

    assert_error(response, 400, "invalid_request")
    assert await get(client, admin, affiliate["id"]) == affiliate


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"name": "X"}), ("PATCH", {}), ("DELETE", None)],
)
async def test_unknown_id_is_404(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    method: str,
    body: dict[str, Any] | None,
) -> None:
    response = await client.request(
        method, f"{API}/{affiliate['id'] + 1}", json=body, headers=admin
    )

    assert_error(response, 404, "not_found")
    assert await get(client, admin, affiliate["id"]) == affiliate


@pytest.mark.parametrize("bad_id", ["0", str(2**64), "x"])
async def test_malformed_path_id_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    assert_error(await client.get(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")


async def test_a_signing_secret_can_be_set_changed_and_cleared(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await client.post(
        "/api/v1/affiliates", json={"name": "Signed", "signing_secret": "s" * 32}, headers=admin
    )
    assert created.status_code == 201
    assert created.json()["signing_secret"] == "s" * 32
    path = f"/api/v1/affiliates/{created.json()['id']}"
    too_short = await client.patch(path, json={"signing_secret": "short"}, headers=admin)
    assert too_short.status_code == 400
    cleared = await client.patch(path, json={"signing_secret": None}, headers=admin)
    assert cleared.json()["signing_secret"] is None
