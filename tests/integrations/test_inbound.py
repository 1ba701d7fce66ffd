"""Salesforce, Zoho and generic calls: each authenticated its own way, read through its
field map, queued as a postback is; bad input is a 4xx and stores nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.helpers import assert_error
from tests.integrations.support import (
    history,
    make_integration,
    signed_call,
    stored_counts,
    tracker_signature,
)
from tests.support.conversions import click, conversions, run_worker

SALESFORCE_STAGES = {
    "Qualification": "pending",
    "Closed Won": "approved",
    "Closed Lost": "rejected",
}


async def test_a_salesforce_callout_signed_as_postbacks_are(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    integration = await make_integration(
        client, admin, shop, provider="salesforce", stage_map=SALESFORCE_STAGES
    )
    assert len(integration["secret"]) >= 32
    click_id = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    opportunity = {
        "Id": "0065g00000AbCdEAAV",
        "StageName": "Qualification",
        "Amount": 250.0,
        "CurrencyIsoCode": "USD",
        "Tracker_Click_ID__c": click_id,
    }
    assert (await signed_call(client, integration, opportunity)).status_code == 200
    await run_worker(settings)
    response = await signed_call(client, integration, {**opportunity, "StageName": "closed won"})
    assert response.status_code == 200
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"], row["amount"]) == (
        "0065g00000AbCdEAAV",
        "approved",
        Decimal("250"),
    )
    assert row["affiliate_id"] == shop["bob"]["id"]
    assert await history(pool) == [(None, "pending"), ("pending", "approved")]
    path = f"/integrations/salesforce/{integration['id']}"
    body = orjson.dumps({**opportunity, "StageName": "Closed Lost"})
    refused = [
        {},
        {"X-Tracker-Signature": tracker_signature("wrong-secret-0123456789", body)},
        {"X-Tracker-Signature": tracker_signature(integration["secret"], body, age_s=301)},
        {"X-Tracker-Signature": tracker_signature(integration["secret"], body + b" ")},
    ]
    for headers in refused:
        response = await client.post(
            path, content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert_error(response, 401, "invalid_signature")
    malformed = {"Content-Type": "application/json", "X-Tracker-Signature": "v1=abc"}
    assert_error(await client.post(path, content=body, headers=malformed), 400, "bad_signature")
    headers = {
        "Content-Type": "application/json",
        "X-Tracker-Signature": tracker_signature(integration["secret"], body),
    }
    assert (await client.post(path, content=body, headers=headers)).status_code == 200
    assert_error(await client.post(path, content=body, headers=headers), 409, "replayed")
    await run_worker(settings)
    assert (await conversions(pool))[0]["status"] == "rejected"


async def test_zoho_takes_its_token_in_a_header_or_the_url_and_a_form_or_json(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    integration = await make_integration(
        client,
        admin,
        shop,
        provider="zoho",
        stage_map={"Negotiation/Review": "pending", "Closed Won": "approved"},
        field_map={"click_id": "Tracker_Click_ID"},
    )
    token = integration["secret"]
    stored = await pool.fetchrow("SELECT secret, token_hash FROM integrations")
    assert stored is not None
    assert stored["secret"] is None
    assert token.encode() not in bytes(stored["token_hash"])
    path = f"/integrations/zoho/{integration['id']}"
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    form = {
        "deal_id": "3652397000000649013",
        "stage": "Negotiation/Review",
        "amount": "99.90",
        "currency": "usd",
        "Tracker_Click_ID": click_id,
    }
    by_header = await client.post(path, data=form, headers={"X-Tracker-Token": token})
    assert by_header.status_code == 200, by_header.text
    await run_worker(settings)
    by_url = await client.post(path, params={"token": token}, json={**form, "stage": "Closed Won"})
    assert by_url.status_code == 200, by_url.text
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"], row["amount"], row["amount_currency"]) == (
        "3652397000000649013",
        "approved",
        Decimal("99.90"),
        "USD",
    )
    for refused in (
        await client.post(path, data=form),
        await client.post(path, data=form, headers={"X-Tracker-Token": token[:-1] + "x"}),
        await client.post(path, params={"token": "nope"}, data=form),
    ):
        assert_error(refused, 401, "invalid_token")
    xml = await client.post(
        path, content=b"<deal/>", headers={"X-Tracker-Token": token, "Content-Type": "text/xml"}
    )
    assert_error(xml, 415)
    ignored = await client.post(
        path, data={**form, "stage": "Closed Lost"}, headers={"X-Tracker-Token": token}
    )
    assert ignored.status_code == 202
    assert ignored.json()["status"] == "ignored"
    assert await stored_counts(pool) == (1, 0)


async def test_generic_json_read_by_pointers(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    integration = await make_integration(
        client,
        admin,
        shop,
        provider="generic",
        stage_map={"won": "approved", "lost": "rejected"},
        field_map={
            "click_id": "/lead/custom~1fields/click",
            "txid": "/deal/id",
            "stage": "/deal/pipeline/stage",
            "amount": "/deal/value/0",
            "currency": "/deal/value/1",
        },
    )
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    document: dict[str, Any] = {
        "lead": {"custom/fields": {"click": click_id}},
        "deal": {"id": 42, "pipeline": {"stage": "won"}, "value": ["10.00", "EUR"]},
    }
    response = await signed_call(client, integration, document)
    assert response.status_code == 200, response.text
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["status"], row["amount"], row["amount_currency"]) == (
        "42",
        "approved",
        Decimal("10.00"),
        "EUR",
    )
    for bad, code in (
        ({**document, "deal": {**document["deal"], "id": None}}, "missing_parameter"),
        ({**document, "deal": {**document["deal"], "value": [True, "EUR"]}}, "invalid_body"),
        ({**document, "deal": {**document["deal"], "value": ["1", "XYZ"]}}, "invalid_parameter"),
        ({**document, "deal": {**document["deal"], "id": "x" * 300}}, "invalid_parameter"),
    ):
        assert_error(await signed_call(client, integration, bad), 400, code)
    await run_worker(settings)
    assert await stored_counts(pool) == (1, 1)
