"""/api/v1/webhooks: the secret shown once, scoping by key, the SSRF guard, bad input."""

from __future__ import annotations

import base64
from typing import Any

import asyncpg
import httpx
import pytest

from app import sealing
from app.settings import Settings
from app.webhooks import sealed
from app.webhooks.service import MAX_AFFILIATE_ENDPOINTS
from tests.helpers import affiliate_headers, assert_error, create
from tests.webhooks.conftest import API, endpoint

HOOK = "https://hooks.example/in"


def secret_bytes(secret: str) -> bytes:
    assert secret.startswith("whsec_")
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


async def test_the_secret_is_shown_on_create_and_rotate_only(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, settings: Settings
) -> None:
    made = await endpoint(client, admin, HOOK, ["conversion.created", "offer.cap_reached"])
    assert len(secret_bytes(made["secret"])) == 32
    assert made["status"] == "enabled"
    assert made["affiliate_id"] is None
    assert made["events"] == ["conversion.created", "offer.cap_reached"]

    one = (await client.get(f"{API}/{made['id']}", headers=admin)).json()
    listed = (await client.get(API, headers=admin)).json()["items"]
    assert "secret" not in one
    assert [set(item) for item in listed] == [set(one)]
    assert made["secret"] not in (await client.get(API, headers=admin)).text

    rotated = await client.post(f"{API}/{made['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert len(secret_bytes(new)) == 32
    assert new != made["secret"]
    row = await pool.fetchrow("SELECT * FROM webhooks WHERE id = $1", made["id"])
    assert row is not None
    # Sealed at rest: neither secret is in the row; the app's key opens both, in this row.
    raw = str(dict(row))
    assert made["secret"] not in raw
    assert new not in raw
    sealer = sealing.sealer_of(settings)
    assert sealed.open_secret(sealer, made["id"], row["secret"]) == new  # signs from now on
    assert sealed.open_secret(sealer, made["id"], row["previous_secret"]) == made["secret"]
    with pytest.raises(sealing.DataKeyWrong):
        sealed.open_secret(sealer, made["id"] + 1, row["secret"])  # moved to another row


BAD_BODIES = [
    pytest.param({"events": ["conversion.created"]}, id="no-url"),
    pytest.param({"url": HOOK}, id="no-events"),
    pytest.param({"url": HOOK, "events": []}, id="empty-events"),
    pytest.param({"url": HOOK, "events": ["conversion.deleted"]}, id="unknown-event"),
    pytest.param({"url": HOOK, "events": ["webhook.test"]}, id="test-is-not-subscribable"),
    pytest.param({"url": HOOK, "events": ["conversion.created", "conversion.created"]}, id="twice"),
    pytest.param({"url": "ftp://hooks.example/", "events": ["payout.paid"]}, id="ftp"),
    pytest.param({"url": "hooks.example/in", "events": ["payout.paid"]}, id="relative"),
    pytest.param({"url": HOOK + "?t={txid}", "events": ["payout.paid"]}, id="macro"),
    pytest.param({"url": HOOK, "events": "payout.paid"}, id="events-not-a-list"),
    pytest.param({"url": HOOK, "events": ["payout.paid"], "secret": "whsec_x"}, id="secret"),
    pytest.param({"url": HOOK, "events": ["payout.paid"], "affiliate_id": 0}, id="id-0"),
    pytest.param({"url": HOOK, "events": ["payout.paid"], "description": "x" * 501}, id="long"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_input_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, body: dict[str, Any]
) -> None:
    assert_error(await client.post(API, json=body, headers=admin), 400, "invalid_request")
    assert await pool.fetchval("SELECT count(*) FROM webhooks") == 0


async def test_an_unknown_affiliate_is_a_409(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"url": HOOK, "events": ["payout.paid"], "affiliate_id": 999}
    assert_error(await client.post(API, json=body, headers=admin), 409, "invalid_reference")


REFUSED = ["http://10.1.2.3/in", "http://169.254.169.254/latest", "http://[::ffff:10.0.0.1]/"]


@pytest.mark.parametrize("url", REFUSED)
async def test_the_ssrf_guard_refuses_internal_urls(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool, url: str
) -> None:
    response = await client.post(API, json={"url": url, "events": ["payout.paid"]}, headers=admin)
    assert "not a public address" in assert_error(response, 400, "invalid_request")["message"]
    made = await endpoint(client, admin, HOOK)
    patched = await client.patch(f"{API}/{made['id']}", json={"url": url}, headers=admin)
    assert_error(patched, 400, "invalid_request")
    assert await pool.fetchval("SELECT url FROM webhooks") == HOOK


async def test_patch_changes_fields_and_status(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await endpoint(client, admin, HOOK)
    path = f"{API}/{made['id']}"
    changed = await client.patch(
        path, json={"events": ["payout.paid"], "description": "payments"}, headers=admin
    )
    assert changed.status_code == 200
    assert (changed.json()["events"], changed.json()["description"]) == (
        ["payout.paid"],
        "payments",
    )
    off = (await client.patch(path, json={"status": "disabled"}, headers=admin)).json()
    assert off["status"] == "disabled"
    assert off["disabled_reason"] == "disabled through the API"
    assert off["disabled_at"] is not None
    on = (await client.patch(path, json={"status": "enabled"}, headers=admin)).json()
    assert (on["status"], on["disabled_reason"], on["consecutive_failures"]) == ("enabled", None, 0)

    for bad in ({"status": "paused"}, {"events": None}, {"url": None}, {"secret": "x"}):
        assert_error(await client.patch(path, json=bad, headers=admin), 400)
    assert (await client.get(path, headers=admin)).json()["events"] == ["payout.paid"]


async def test_delete_keeps_the_log(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    made = await endpoint(client, admin, HOOK)
    sent = await client.post(f"{API}/{made['id']}/test", headers=admin)
    assert sent.status_code == 202
    delivery_id = sent.json()["delivery_id"]

    assert (await client.delete(f"{API}/{made['id']}", headers=admin)).status_code == 204
    assert_error(await client.get(f"{API}/{made['id']}", headers=admin), 404)
    assert_error(await client.delete(f"{API}/{made['id']}", headers=admin), 404)
    row = await pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", delivery_id)
    assert row is not None
    assert (row["webhook_id"], row["status"], row["last_error"]) == (
        None,
        "failed",
        "endpoint deleted",
    )


async def test_a_disabled_endpoint_takes_no_test(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await endpoint(client, admin, HOOK)
    await client.patch(f"{API}/{made['id']}", json={"status": "disabled"}, headers=admin)
    assert_error(await client.post(f"{API}/{made['id']}/test", headers=admin), 409)


async def test_an_affiliate_key_manages_its_own_endpoints_only(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any]
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alice_key = await affiliate_headers(client, admin, alice)
    program = await endpoint(client, admin, HOOK)
    of_bob = await endpoint(client, admin, HOOK, affiliate_id=bob)

    mine = await endpoint(client, alice_key, "https://alice.example/hooks")
    assert mine["affiliate_id"] == alice  # forced to its own
    also_mine = await create(
        client,
        "webhooks",
        {"url": HOOK, "events": ["payout.paid"], "affiliate_id": alice},
        alice_key,
    )
    assert also_mine["affiliate_id"] == alice
    body = {"url": HOOK, "events": ["payout.paid"], "affiliate_id": bob}
    assert_error(await client.post(API, json=body, headers=alice_key), 403)

    listed = (await client.get(API, headers=alice_key)).json()["items"]
    assert [w["id"] for w in listed] == [mine["id"], also_mine["id"]]
    for other in (program, of_bob):
        path = f"{API}/{other['id']}"
        assert_error(await client.get(path, headers=alice_key), 404)
        assert_error(await client.patch(path, json={"status": "disabled"}, headers=alice_key), 404)
        assert_error(await client.post(f"{path}/rotate-secret", headers=alice_key), 404)
        assert_error(await client.post(f"{path}/test", headers=alice_key), 404)
        assert_error(await client.delete(path, headers=alice_key), 404)
    everything = (await client.get(API, headers=admin)).json()["items"]
    assert {w["status"] for w in everything} == {"enabled"}
    assert len(everything) == 4
    # ?affiliate_id= narrows an admin's list to one affiliate's; an affiliate key may
    # name its own only.
    of_alice = (await client.get(f"{API}?affiliate_id={alice}", headers=admin)).json()["items"]
    assert [w["id"] for w in of_alice] == [mine["id"], also_mine["id"]]
    own = await client.get(f"{API}?affiliate_id={alice}", headers=alice_key)
    assert [w["id"] for w in own.json()["items"]] == [mine["id"], also_mine["id"]]
    assert_error(await client.get(f"{API}?affiliate_id={bob}", headers=alice_key), 403)
    assert_error(await client.get(f"{API}?affiliate_id=x", headers=admin), 400)
    assert_error(await client.get(API), 401)


async def test_an_affiliate_has_a_limited_number_of_endpoints(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: asyncpg.Pool
) -> None:
    alice_key = await affiliate_headers(client, admin, catalog["alice"]["id"])
    for _ in range(MAX_AFFILIATE_ENDPOINTS):
        await endpoint(client, alice_key, HOOK)
    body = {"url": HOOK, "events": ["payout.paid"]}
    assert_error(await client.post(API, json=body, headers=alice_key), 409, "too_many_webhooks")
    assert await pool.fetchval("SELECT count(*) FROM webhooks") == MAX_AFFILIATE_ENDPOINTS
    await endpoint(client, admin, HOOK, affiliate_id=catalog["alice"]["id"])  # an admin may
