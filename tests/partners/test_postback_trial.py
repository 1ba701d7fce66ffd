"""POST /affiliates/{id}/postback/test: one real try to the affiliate's postback URL now,
with the sample's macros, its signature and method; nothing stored; scoped to the
affiliate's own key; the SSRF guard as for every try."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from app import signing
from app.sender import trial
from app.settings import Settings
from tests.fixtures.receiver import reaching_loopback
from tests.helpers import affiliate_headers, assert_error
from tests.sender.receiver import Receiver, Reply

API = "/api/v1/affiliates"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return reaching_loopback(settings)


async def _set_postback(
    client: httpx.AsyncClient, headers: dict[str, str], affiliate_id: int, **fields: Any
) -> httpx.Response:
    return await client.patch(f"{API}/{affiliate_id}", json=fields, headers=headers)


async def test_an_affiliate_sets_its_postback_and_tests_it(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    receiver: Receiver,
    pool: asyncpg.Pool,
) -> None:
    own = await affiliate_headers(client, admin, affiliate["id"])
    template = f"{receiver.base_url}/pb?cid={{click_id}}&p={{payout}}&s={{status}}&t={{txid}}"
    saved = await _set_postback(
        client, own, affiliate["id"], postback_url=template, postback_on="all"
    )
    assert saved.status_code == 200, saved.text
    assert (saved.json()["postback_url"], saved.json()["postback_on"]) == (template, "all")
    await client.patch(f"{API}/{affiliate['id']}", json={"signing_secret": "s" * 32}, headers=admin)
    deliveries_before = await pool.fetchval("SELECT count(*) FROM deliveries")

    tried = await client.post(f"{API}/{affiliate['id']}/postback/test", headers=own)

    assert tried.status_code == 200, tried.text
    body = tried.json()
    assert (body["ok"], body["status_code"], body["method"], body["error"]) == (
        True,
        200,
        "GET",
        None,
    )
    assert body["response_snippet"] == "ok"
    [request] = receiver.on("/pb")
    assert request.target.startswith("/pb?cid=test&p=0.00&s=approved&t=test-")
    assert body["url"] == f"{receiver.base_url}{request.target}"
    signature = request.headers["x-tracker-signature"]
    timestamp = int(signature.split(",")[0].split("=")[1])
    assert signature == signing.sign("s" * 32, timestamp, request.target.encode())
    assert await pool.fetchval("SELECT count(*) FROM deliveries") == deliveries_before


async def test_a_failing_receiver_is_reported_not_raised(
    client: httpx.AsyncClient, admin: dict[str, str], affiliate: dict[str, Any], receiver: Receiver
) -> None:
    receiver.handler = lambda _: Reply(status=500, body=b"broken")
    url = f"{receiver.base_url}/pb?cid={{click_id}}"
    await _set_postback(client, admin, affiliate["id"], postback_url=url, postback_method="POST")
    body = (await client.post(f"{API}/{affiliate['id']}/postback/test", headers=admin)).json()
    assert (body["ok"], body["status_code"], body["error"], body["method"]) == (
        False,
        500,
        "HTTP 500",
        "POST",
    )
    assert body["response_snippet"] == "broken"
    [request] = receiver.on("/pb")
    assert b'"click_id":"test"' in request.body


async def test_no_url_another_affiliate_and_a_private_address(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    own = await affiliate_headers(client, admin, alice)
    assert_error(await client.post(f"{API}/{alice}/postback/test", headers=own), 409)
    assert_error(await client.post(f"{API}/{bob}/postback/test", headers=own), 403)
    assert_error(await client.post(f"{API}/999/postback/test", headers=admin), 404)
    # An affiliate's own key may not aim the postback at a private network either.
    refused = await _set_postback(client, own, alice, postback_url="http://10.1.2.3/pb")
    assert_error(refused, 400)


async def test_tests_are_limited_per_affiliate_so_they_relay_no_flood(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    affiliate: dict[str, Any],
    receiver: Receiver,
) -> None:
    """Each test is a request, on demand, to a URL the affiliate chose: past
    trial.TESTS_PER_MINUTE a minute, 429 with Retry-After, and nothing is sent."""
    own = await affiliate_headers(client, admin, affiliate["id"])
    saved = await _set_postback(client, own, affiliate["id"], postback_url=f"{receiver.base_url}/")
    assert saved.status_code == 200, saved.text
    path = f"{API}/{affiliate['id']}/postback/test"
    for _ in range(trial.TESTS_PER_MINUTE):
        assert (await client.post(path, headers=own)).status_code == 200
    sent = len(receiver.received)
    refused = await client.post(path, headers=own)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(receiver.received) == sent
