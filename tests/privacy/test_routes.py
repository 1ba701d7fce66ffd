"""The erasure API: admin only, one subject per request, clear 4xx for anything else."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.clickid import new_click_id
from app.db import Pool
from tests.helpers import affiliate_headers, assert_error


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ip": "198.51.100.7", "click_id": new_click_id()[0]},
        {"ip": "not an address"},
        {"ip": "999.1.1.1"},
        {"click_id": "short"},
        {"click_id": "0" * 25 + "1"},  # unused trailing bits set: no click ID spells this
        {"customer_id": 0},
        {"customer_id": "abc"},
        {"email": "who@example.com"},
        [],
    ],
)
async def test_bad_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, body: Any
) -> None:
    response = await client.post("/api/v1/privacy/erase", json=body, headers=admin)
    assert_error(response, 400)
    assert await pool.fetchval("SELECT count(*) FROM privacy_erasures") == 0


async def test_only_admins_erase_or_read_erasures(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    affiliate = await affiliate_headers(client, admin, catalog["alice"]["id"])
    body = {"ip": "198.51.100.7"}
    assert_error(await client.post("/api/v1/privacy/erase", json=body), 401)
    assert_error(await client.post("/api/v1/privacy/erase", json=body, headers=affiliate), 403)
    assert_error(await client.get("/api/v1/privacy/erasures", headers=affiliate), 403)


async def test_an_unknown_customer_is_404_and_records_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    response = await client.post("/api/v1/privacy/erase", json={"customer_id": 7}, headers=admin)
    error = assert_error(response, 404, "not_found")
    assert "customer 7 does not exist" in error["message"]
    assert_error(await client.delete("/api/v1/customers/7", headers=admin), 404, "not_found")
    assert_error(await client.delete("/api/v1/customers/0", headers=admin), 400, "invalid_request")
    assert await pool.fetchval("SELECT count(*) FROM privacy_erasures") == 0


async def test_erasures_are_recorded_with_the_key_and_listed_in_pages(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    made = await client.post("/api/v1/keys", json={"role": "admin", "name": "dpo"}, headers=admin)
    dpo = {"Authorization": f"Bearer {made.json()['key']}"}
    click_id = new_click_id()[0]
    subjects = [{"click_id": click_id}, {"ip": "2001:db8:1:2::9"}, {"ip": "198.51.100.0/24"}]
    # Any 26 characters of the form spell some UUID; one that is no click ID of ours (here
    # with a time in the year 10889) finds nothing.
    subjects.append({"click_id": "v" * 25 + "s"})
    for body in subjects:
        response = await client.post("/api/v1/privacy/erase", json=body, headers=dpo)
        assert response.status_code == 201, response.text
        assert response.json()["total"] == 0
    first = await client.get("/api/v1/privacy/erasures", params={"limit": 2}, headers=admin)
    assert first.status_code == 200
    page = first.json()
    assert [(e["kind"], e["subject"]) for e in page["items"]] == [
        ("click_id", click_id),
        # An IP is recorded only as the network IP_ANONYMIZE would keep.
        ("ip", "2001:db8:1::/48"),
    ]
    assert {e["key_id"] for e in page["items"]} == {made.json()["id"]}
    rest = await client.get(
        "/api/v1/privacy/erasures", params={"cursor": page["next_cursor"]}, headers=admin
    )
    assert [e["subject"] for e in rest.json()["items"]] == ["198.51.100.0/24", "v" * 25 + "s"]
    assert rest.json()["next_cursor"] is None
    assert "2001:db8:1:2::9" not in str(await pool.fetch("SELECT * FROM privacy_erasures"))
