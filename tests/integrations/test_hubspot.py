"""HubSpot: the v3 signature as HubSpot documents it, and a deal's stages becoming one
conversion through the postbacks' intake and the worker."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.clickid import parse_click_id
from app.db import Pool
from app.integrations import hubspot
from app.main import TrackerApp
from app.proxies import TrustedProxies
from app.settings import Settings
from app.streams.durable_queue import CommitFailed
from tests.helpers import assert_error
from tests.integrations.support import (
    HUBSPOT_SECRET,
    history,
    hubspot_call,
    hubspot_headers,
    hubspot_signature,
    make_integration,
    stored_counts,
)
from tests.support.conversions import click, conversions, run_worker


def workflow_body(
    click_id: str, stage: str, *, deal: str = "9001", amount: str = "120.50"
) -> dict[str, Any]:
    """A workflow "Send a webhook" body: the deal's properties as the object API gives them."""
    return {
        "objectId": int(deal),
        "properties": {
            "hs_object_id": {"value": deal},
            "dealstage": {"value": stage, "versions": [{"value": stage}]},
            "amount": {"value": amount},
            "deal_currency_code": {"value": "USD"},
            "tracker_click_id": {"value": click_id},
        },
    }


@dataclass(frozen=True)
class Deal:
    """A HubSpot integration of the shop's offer, and a click stored for its deal."""

    integration: dict[str, Any]
    click_id: str


@pytest.fixture
async def deal(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
) -> Deal:
    integration = await make_integration(client, admin, shop)
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    return Deal(integration, click_id)


def test_the_signature_is_hubspots_documented_one() -> None:
    # Method + URI + body + timestamp, HMAC-SHA256 keyed with the client secret, base64.
    body = b'[{"objectId":1}]'
    uri = "https://tracker.example/integrations/hubspot/7?a=1&b=2"
    expected = hubspot_signature(HUBSPOT_SECRET, "POST", uri, body, "1700000000000")
    assert (
        hubspot.sign(HUBSPOT_SECRET, method="POST", uri=uri, body=body, timestamp="1700000000000")
        == expected
    )
    headers = {"x-hubspot-signature-v3": expected, "x-hubspot-request-timestamp": "1700000000000"}
    key = hubspot.verify(
        HUBSPOT_SECRET, method="POST", uri=uri, body=body, headers=headers, now_ms=1700000000000
    )
    assert key
    for changed in ({"body": b'[{"objectId":2}]'}, {"uri": uri + "&c=3"}, {"method": "PUT"}):
        arguments: dict[str, Any] = {"method": "POST", "uri": uri, "body": body, **changed}
        with pytest.raises(hubspot.InvalidSignature):
            hubspot.verify(HUBSPOT_SECRET, headers=headers, now_ms=1700000000000, **arguments)
    # Five minutes old is still taken; a millisecond more is not.
    hubspot.verify(
        HUBSPOT_SECRET,
        method="POST",
        uri=uri,
        body=body,
        headers=headers,
        now_ms=1700000000000 + 300_000,
    )
    with pytest.raises(hubspot.InvalidSignature, match="older than 5 minutes"):
        hubspot.verify(
            HUBSPOT_SECRET,
            method="POST",
            uri=uri,
            body=body,
            headers=headers,
            now_ms=1700000000000 + 300_001,
        )


def test_a_uri_signed_with_the_guides_escapes_decoded_is_taken_too() -> None:
    # HubSpot's guide lists escapes to decode before signing; its SDKs decode none.
    uri = "https://tracker.example/integrations/hubspot/7?next=%2Fdeals%3Fx%3D1"
    decoded = hubspot.decoded_uri(uri)
    assert decoded == "https://tracker.example/integrations/hubspot/7?next=/deals?x%3D1"
    for signed_uri in (uri, decoded):
        signature = hubspot_signature(HUBSPOT_SECRET, "POST", signed_uri, b"{}", "5")
        headers = {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": "5"}
        hubspot.verify(
            HUBSPOT_SECRET, method="POST", uri=uri, body=b"{}", headers=headers, now_ms=5
        )


async def test_a_deal_moving_to_closed_won_then_closed_lost_is_one_conversion(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    for stage, status in (
        ("appointmentscheduled", "pending"),
        ("closedwon", "approved"),
        ("closedlost", "rejected"),
    ):
        response = await hubspot_call(client, integration, workflow_body(click_id, stage))
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "accepted"}
        await run_worker(settings)
        [row] = await conversions(pool)
        assert row["status"] == status
    assert row["txid"] == "9001"
    assert row["click_id"] == parse_click_id(click_id)
    assert row["affiliate_id"] == shop["alice"]["id"]
    assert row["amount"] == Decimal("120.50")
    assert await history(pool) == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "rejected"),
    ]
    api = await client.get(f"/api/v1/conversions/{row['id']}", headers=admin)
    assert api.json()["status"] == "rejected"


async def test_a_webhooks_api_batch_moves_the_deal_a_workflow_call_created(
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Pool,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    response = await hubspot_call(
        client, integration, workflow_body(click_id, "appointmentscheduled")
    )
    assert response.status_code == 200
    await run_worker(settings)
    event = {
        "eventId": 1,
        "subscriptionId": 12345,
        "portalId": 62515,
        "appId": 54321,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "changeSource": "CRM",
        "objectId": 9001,
        "propertyName": "dealstage",
    }
    batch = [
        # Sent out of order: the later change (closed won) is the one in force.
        {**event, "eventId": 3, "occurredAt": 1700000002000, "propertyValue": "closedwon"},
        {**event, "eventId": 2, "occurredAt": 1700000001000, "propertyValue": "qualifiedtobuy"},
        {
            **event,
            "eventId": 4,
            "objectId": 777,
            "occurredAt": 1700000003000,
            "propertyValue": "closedwon",
        },
        {**event, "eventId": 5, "propertyName": "amount", "propertyValue": "9"},
    ]
    response = await hubspot_call(client, integration, batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "accepted": 1, "ignored": 3}
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"]) == ("9001", "approved")
    assert row["amount"] == Decimal("120.50")
    # Nothing there for the deal without a conversion (no click ID to credit it with).
    unknown = [{**event, "objectId": 778, "occurredAt": 1, "propertyValue": "closedwon"}]
    response = await hubspot_call(client, integration, unknown)
    assert response.status_code == 202
    assert "no click ID" in response.json()["reason"]


async def test_wrong_stale_and_replayed_signatures_are_refused(
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Pool,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    path = f"/integrations/hubspot/{integration['id']}"
    body = orjson.dumps(workflow_body(click_id, "closedwon"))
    wrong = await client.post(
        path, content=body, headers=hubspot_headers(path, body, secret="another-secret-12345")
    )
    assert_error(wrong, 401, "invalid_signature")
    stale = await client.post(
        path, content=body, headers=hubspot_headers(path, body, age_ms=301_000)
    )
    assert_error(stale, 401, "invalid_signature")
    unsigned = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_error(unsigned, 401, "invalid_signature")
    other_host = await client.post(
        path, content=body, headers=hubspot_headers(path, body, base="https://tracker.test")
    )
    assert_error(other_host, 401, "invalid_signature")
    assert await stored_counts(pool) == (0, 0)
    headers = hubspot_headers(path, body)
    first = await client.post(path, content=body, headers=headers)
    assert first.status_code == 200, first.text
    replay = await client.post(path, content=body, headers=headers)
    assert_error(replay, 409, "replayed")
    await run_worker(settings)
    assert await stored_counts(pool) == (1, 1)
    # The deal is lost; the earlier "won" call replayed after it changes nothing.
    lost = await hubspot_call(client, integration, workflow_body(click_id, "closedlost"))
    assert lost.status_code == 200
    assert_error(await client.post(path, content=body, headers=headers), 409, "replayed")
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["status"] == "rejected"


async def test_behind_a_trusted_proxy_the_uri_is_the_one_hubspot_requested(
    app: TrackerApp,
    client: httpx.AsyncClient,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    path = f"/integrations/hubspot/{integration['id']}"
    body = orjson.dumps(workflow_body(click_id, "closedwon"))
    public = "https://crm-hooks.example.com"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "crm-hooks.example.com"}
    # Not trusted yet: the forwarded headers are not believed.
    response = await client.post(
        path, content=body, headers={**hubspot_headers(path, body, base=public), **forwarded}
    )
    assert_error(response, 401, "invalid_signature")
    app.intake.trusted = TrustedProxies(["127.0.0.1/32"])  # httpx's ASGI client address
    response = await client.post(
        path, content=body, headers={**hubspot_headers(path, body, base=public), **forwarded}
    )
    assert response.status_code == 200, response.text


async def test_an_unmapped_stage_is_ignored_and_bad_bodies_are_400(
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Pool,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    response = await hubspot_call(client, integration, workflow_body(click_id, "contractsent"))
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert "contractsent" in response.json()["reason"]
    no_click = workflow_body(click_id, "closedwon")
    del no_click["properties"]["tracker_click_id"]
    response = await hubspot_call(client, integration, no_click)
    assert response.status_code == 202
    for bad, code in (
        (workflow_body("not-a-click", "closedwon"), "invalid_parameter"),
        (workflow_body(click_id, "closedwon", amount="-5"), "invalid_parameter"),
        (workflow_body(click_id, "closedwon", amount="abc"), "invalid_parameter"),
        (
            {"properties": {"dealstage": "closedwon", "tracker_click_id": click_id}},
            "missing_parameter",
        ),
        ({**workflow_body(click_id, "closedwon"), "properties": {"amount": [1]}}, "invalid_body"),
        ("just a string", "invalid_body"),
        ([], "invalid_body"),
    ):
        assert_error(await hubspot_call(client, integration, bad), 400, code)
    path = f"/integrations/hubspot/{integration['id']}"
    for body in (b"{not json", b"[1,"):
        response = await client.post(path, content=body, headers=hubspot_headers(path, b""))
        assert_error(response, 401)  # signed over another body
        response = await client.post(path, content=body, headers=hubspot_headers(path, body))
        assert_error(response, 400, "invalid_json")
    form = b"a=1"
    headers = {**hubspot_headers(path, form), "Content-Type": "application/x-www-form-urlencoded"}
    assert_error(await client.post(path, content=form, headers=headers), 415)
    assert_error(await client.post("/integrations/zoho/" + str(integration["id"])), 404)
    assert_error(await client.post("/integrations/hubspot/999999"), 404)
    assert_error(await client.post("/integrations/nosuch/1"), 400)
    await run_worker(settings)
    assert await stored_counts(pool) == (0, 0)


async def test_a_call_that_could_not_be_queued_is_a_503_and_may_come_again(
    app: TrackerApp,
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    path = f"/integrations/hubspot/{integration['id']}"
    body = orjson.dumps(workflow_body(click_id, "closedwon"))
    headers = hubspot_headers(path, body)

    async def neither_redis_nor_spool(record: bytes) -> bool:
        raise CommitFailed("down")

    with monkeypatch.context() as patched:
        patched.setattr(app.intake.queue, "put", neither_redis_nor_spool)
        assert_error(await client.post(path, content=body, headers=headers), 503, "unavailable")
    assert await stored_counts(pool) == (0, 0)
    # The CRM's retry of the same signed request is no replay: it was never accepted.
    assert (await client.post(path, content=body, headers=headers)).status_code == 200
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["status"] == "approved"


async def test_a_legacy_object_body_and_a_custom_flat_body_are_read(
    client: httpx.AsyncClient,
    settings: Settings,
    pool: Pool,
    deal: Deal,
) -> None:
    integration, click_id = deal.integration, deal.click_id
    legacy = workflow_body(click_id, "appointmentscheduled", deal="555")
    del legacy["objectId"], legacy["properties"]["hs_object_id"]
    legacy["dealId"] = 555
    assert (await hubspot_call(client, integration, legacy)).status_code == 200
    await run_worker(settings)
    flat = {"hs_object_id": "555", "dealstage": "closedwon", "tracker_click_id": click_id}
    assert (await hubspot_call(client, integration, flat)).status_code == 200
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"]) == ("555", "approved")
