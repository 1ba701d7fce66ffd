from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.catalog.conftest import offer_body
from tests.helpers import assert_error, create

API = "/api/v1/advertisers"


async def count(pool: asyncpg.Pool) -> int:
    value: int = await pool.fetchval("SELECT count(*) FROM advertisers")
    return value


async def test_create_generates_a_postback_token(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    advertiser = await create(client, "advertisers", {"name": "  Acme  "}, admin)

    assert isinstance(advertiser["id"], int)
    assert advertiser["name"] == "Acme"
    assert advertiser["status"] == "active"
    assert advertiser["ip_allowlist"] == []
    token = advertiser["postback_token"]
    assert len(token) >= 24
    assert advertiser["postback_url"].startswith(f"http://tracker.test/postback?token={token}&")
    datetime.fromisoformat(advertiser["created_at"])
    stored = await pool.fetchval(
        "SELECT postback_token FROM advertisers WHERE id = $1", advertiser["id"]
    )
    assert stored == token


async def test_each_advertiser_gets_its_own_token(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tokens = {
        (await create(client, "advertisers", {"name": f"A{i}"}, admin))["postback_token"]
        for i in range(5)
    }
    assert len(tokens) == 5


async def test_get_returns_what_create_returned(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    advertiser = await create(
        client, "advertisers", {"name": "Acme", "ip_allowlist": ["203.0.113.7/24"]}, admin
    )
    assert advertiser["ip_allowlist"] == ["203.0.113.0/24"]

    response = await client.get(f"{API}/{advertiser['id']}", headers=admin)

    assert response.status_code == 200
    assert response.json() == advertiser


async def test_list_pages_through_every_advertiser_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = [
        (await create(client, "advertisers", {"name": f"A{i}"}, admin))["id"] for i in range(5)
    ]

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(API, params=params, headers=admin)
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10

    assert seen == created
    assert pages == 3


async def test_list_without_limit_returns_everything_and_no_cursor(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for i in range(3):
        await create(client, "advertisers", {"name": f"A{i}"}, admin)

    page = (await client.get(API, headers=admin)).json()

    assert [item["name"] for item in page["items"]] == ["A0", "A1", "A2"]
    assert page["next_cursor"] is None


async def test_patch_changes_only_the_fields_given(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    advertiser = await create(
        client, "advertisers", {"name": "Acme", "ip_allowlist": ["10.0.0.0/8"]}, admin
    )

    response = await client.patch(
        f"{API}/{advertiser['id']}", json={"name": "Acme 2"}, headers=admin
    )

    assert response.status_code == 200
    patched = response.json()
    assert patched["name"] == "Acme 2"
    assert patched["ip_allowlist"] == ["10.0.0.0/8"]
    assert patched["postback_token"] == advertiser["postback_token"]
    assert patched["updated_at"] >= advertiser["updated_at"]
    assert (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json() == patched


async def test_patch_replaces_the_ip_allowlist(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    advertiser = await create(
        client, "advertisers", {"name": "Acme", "ip_allowlist": ["10.0.0.0/8"]}, admin
    )

    response = await client.patch(
        f"{API}/{advertiser['id']}",
        json={"ip_allowlist": ["192.0.2.1", "2001:db8::/32"]},
        headers=admin,
    )

    assert response.status_code == 200
    assert response.json()["ip_allowlist"] == ["192.0.2.1/32", "2001:db8::/32"]


async def test_empty_patch_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any]
) -> None:
    response = await client.patch(f"{API}/{advertiser['id']}", json={}, headers=admin)

    assert response.status_code == 200
    assert response.json() == advertiser


async def test_rotate_token_replaces_the_token(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], pool: asyncpg.Pool
) -> None:
    old = advertiser["postback_token"]

    response = await client.post(f"{API}/{advertiser['id']}/rotate-token", headers=admin)

    assert response.status_code == 200
    new = response.json()["postback_token"]
    assert new != old
    assert len(new) >= 24
    assert old not in response.json()["postback_url"]
    assert (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json()[
        "postback_token"
    ] == new
    assert (
        await pool.fetchval("SELECT count(*) FROM advertisers WHERE postback_token = $1", old) == 0
    )


async def test_delete_removes_an_unreferenced_advertiser(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], pool: asyncpg.Pool
) -> None:
    response = await client.delete(f"{API}/{advertiser['id']}", headers=admin)

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(f"{API}/{advertiser['id']}", headers=admin), 404, "not_found")
    assert await count(pool) == 0


async def test_delete_archives_an_advertiser_with_offers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    response = await client.delete(f"{API}/{advertiser['id']}", headers=admin)

    assert response.status_code == 204
    archived = (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json()
    assert archived["status"] == "archived"
    assert (await client.get(f"/api/v1/offers/{offer['id']}", headers=admin)).status_code == 200


async def test_the_list_filters_on_status_and_keeps_archived_advertisers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    offer: dict[str, Any],
) -> None:
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    assert (await client.delete(f"{API}/{advertiser['id']}", headers=admin)).status_code == 204

    def ids(response: httpx.Response) -> list[int]:
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(await client.get(API, headers=admin)) == [advertiser["id"], other["id"]]
    archived = await client.get(API, params={"status": "archived"}, headers=admin)
    assert ids(archived) == [advertiser["id"]]
    assert ids(await client.get(API, params={"status": "active"}, headers=admin)) == [other["id"]]
    assert_error(
        await client.get(API, params={"status": "paused"}, headers=admin), 400, "invalid_request"
    )


async def test_delete_archives_an_advertiser_with_only_conversions(
    client: httpx.AsyncClient, admin: dict[str, str], advertiser: dict[str, Any], pool: asyncpg.Pool
) -> None:
    # An unattributed conversion (its click never arrived) names the advertiser only.
    await pool.execute(
        """INSERT INTO conversions (advertiser_id, txid, goal, status, currency, received_at)
           VALUES ($1, 'order-1', 'conversion', 'unattributed', 'USD', now())""",
        advertiser["id"],
    )

    response = await client.delete(f"{API}/{advertiser['id']}", headers=admin)

    assert response.status_code == 204
    archived = (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json()
    assert archived["status"] == "archived"


async def test_an_archived_advertiser_takes_no_new_offers(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    offer: dict[str, Any],
    pool: asyncpg.Pool,
) -> None:
    await client.delete(f"{API}/{advertiser['id']}", headers=admin)

    response = await client.post(
        "/api/v1/offers", json=offer_body(advertiser["id"], name="New"), headers=admin
    )

    assert_error(response, 409, "conflict")
    assert await pool.fetchval("SELECT count(*) FROM offers") == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        pytest.param(b'{"name": "Acme"', "invalid_json", id="truncated-json"),
        pytest.param(b"name=Acme", "invalid_json", id="not-json"),
        pytest.param(b"\xff\xfe{}", "invalid_json", id="not-utf8"),
        pytest.param(b"[]", "invalid_request", id="array"),
        pytest.param(b"{}", "invalid_request", id="missing-name"),
        pytest.param(b'{"name": 42}', "invalid_request", id="name-number"),
        pytest.param(b'{"name": null}', "invalid_request", id="name-null"),
        pytest.param(b'{"name": ""}', "invalid_request", id="name-empty"),
        pytest.param(b'{"name": "   "}', "invalid_request", id="name-blank"),
        pytest.param(b'{"name": "' + b"x" * 201 + b'"}', "invalid_request", id="name-too-long"),
        pytest.param(b'{"name": "a\\u0000b"}', "invalid_request", id="name-nul"),
        pytest.param(b'{"name": "Acme", "postback_token": "mine"}', "invalid_request", id="token"),
        pytest.param(b'{"name": "Acme", "colour": "red"}', "invalid_request", id="unknown-field"),
        pytest.param(
            b'{"name": "Acme", "ip_allowlist": ["not-an-ip"]}', "invalid_request", id="bad-cidr"
        ),
        pytest.param(
            b'{"name": "Acme", "ip_allowlist": "10.0.0.0/8"}', "invalid_request", id="cidr-not-list"
        ),
    ],
)
async def test_create_rejects_bad_input(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, content: bytes, code: str
) -> None:
    response = await client.post(
        API, content=content, headers={**admin, "Content-Type": "application/json"}
    )

    assert_error(response, 400, code)
    assert await count(pool) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": None}, id="name-null"),
        pytest.param({"name": ""}, id="name-empty"),
        pytest.param({"name": 7}, id="name-number"),
        pytest.param({"ip_allowlist": None}, id="allowlist-null"),
        pytest.param({"ip_allowlist": ["300.1.1.1"]}, id="bad-cidr"),
        pytest.param({"status": "archived"}, id="status-not-writable"),
        pytest.param({"postback_token": "mine"}, id="token-not-writable"),
    ],
)
async def test_patch_rejects_bad_input_and_changes_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    body: dict[str, Any],
) -> None:
    response = await client.patch(f"{API}/{advertiser['id']}", json=body, headers=admin)

    assert_error(response, 400)
    assert (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json() == advertiser


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"name": "X"}),
        ("PATCH", "", {}),
        ("DELETE", "", None),
        ("POST", "/rotate-token", None),
    ],
)
async def test_unknown_id_is_404(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    missing = advertiser["id"] + 1000
    response = await client.request(method, f"{API}/{missing}{suffix}", json=body, headers=admin)

    assert_error(response, 404, "not_found")
    assert (await client.get(f"{API}/{advertiser['id']}", headers=admin)).json() == advertiser


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1.5", str(2**63), "9" * 40])
async def test_malformed_path_id_is_400(
    client: httpx.AsyncClient, admin: dict[str, str], bad_id: str
) -> None:
    assert_error(await client.get(f"{API}/{bad_id}", headers=admin), 400, "invalid_request")
    assert_error(
        await client.patch(f"{API}/{bad_id}", json={"name": "X"}, headers=admin),
        400,
        "invalid_request",
    )


async def test_unsupported_method_has_the_error_shape(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    response = await client.put(API, json={"name": "Acme"}, headers=admin)

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, POST"
    assert await count(pool) == 0


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("PUT", f"{API}/1", "GET, PATCH, DELETE", id="put-item"),
        pytest.param("OPTIONS", API, "GET, POST", id="options-list"),
        pytest.param("OPTIONS", "/postback", "GET, POST", id="options-postback"),
        pytest.param("DELETE", "/api/v1/offers", "GET, POST", id="delete-offers"),
        pytest.param("PUT", "/api/v1/links/1", "GET, PATCH, DELETE", id="put-link"),
    ],
)
async def test_a_refused_method_names_every_method_of_the_path(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    advertiser: dict[str, Any],
    pool: asyncpg.Pool,
    method: str,
    path: str,
    allow: str,
) -> None:
    response = await client.request(method, path, json={"name": "Changed"}, headers=admin)

    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allow
    assert await pool.fetchval("SELECT name FROM advertisers") == "Acme"
