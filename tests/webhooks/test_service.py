"""Webhook deliveries end to end: sent by the sender's engine to a loopback receiver,
verified with the Standard Webhooks library, retried with the same webhook-id, listed and
retried under /api/v1/deliveries, refused by the SSRF guard at send time."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.sender.engine import Sender
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error
from tests.sender.receiver import Received, Receiver, Reply
from tests.webhooks.conftest import API, endpoint, make_due

DELIVERIES = "/api/v1/deliveries"


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The payload, as a receiver verifies it with the `standardwebhooks` library."""
    headers = {
        k: request.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    payload: dict[str, Any] = Webhook(secret).verify(request.body, headers)
    return payload


async def test_a_test_event_arrives_signed_per_standard_webhooks(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    sent = await client.post(f"{API}/{made['id']}/test", headers=admin)
    assert sent.status_code == 202

    assert await sender.run_once() == 1

    [request] = receiver.on("/hooks")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    payload = verified(made["secret"], request)
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["id"] == request.headers["webhook-id"] == sent.json()["event_id"]
    assert payload["type"] == "webhook.test"
    assert payload["data"]["webhook_id"] == made["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(request.body, dict(request.headers))
    tampered = request.body.replace(b"webhook.test", b"webhook.tost")
    with pytest.raises(WebhookVerificationError):
        Webhook(made["secret"]).verify(tampered, dict(request.headers))

    detail = (await client.get(f"{DELIVERIES}/{sent.json()['delivery_id']}", headers=admin)).json()
    assert (detail["kind"], detail["status"], detail["webhook_id"]) == (
        "webhook",
        "delivered",
        made["id"],
    )
    assert detail["event_type"] == "webhook.test"
    assert [a["status_code"] for a in detail["attempts_log"]] == [200]


async def test_retries_keep_the_webhook_id_and_sign_each_try_anew(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    answers = iter([Reply(status=500), Reply(status=503), Reply()])
    receiver.handler = lambda _: next(answers)
    sent = (await client.post(f"{API}/{made['id']}/test", headers=admin)).json()

    for _ in range(3):
        assert await sender.run_once() == 1
        await make_due(pool)

    requests = receiver.on("/hooks")
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {sent["event_id"]}
    assert len({r.body for r in requests}) == 1
    for request in requests:
        assert verified(made["secret"], request)["id"] == sent["event_id"]
    detail = (await client.get(f"{DELIVERIES}/{sent['delivery_id']}", headers=admin)).json()
    assert detail["status"] == "delivered"
    assert [a["status_code"] for a in detail["attempts_log"]] == [500, 503, 200]
    listed = (
        await client.get(
            DELIVERIES, params={"kind": "webhook", "webhook_id": made["id"]}, headers=admin
        )
    ).json()["items"]
    assert [d["id"] for d in listed] == [sent["delivery_id"]]
    assert (await client.get(DELIVERIES, params={"kind": "postback"}, headers=admin)).json()[
        "items"
    ] == []


async def test_a_receiver_down_for_a_while_loses_nothing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """Down for the whole schedule: the delivery fails; a manual retry sends the same
    event (same webhook-id) once the receiver is back."""
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    receiver.handler = lambda _: Reply(status=502)
    ids = [(await client.post(f"{API}/{made['id']}/test", headers=admin)).json()]
    # The first try and the schedule's 5 retries, under the threshold of disabling.
    sender = Sender(pool, settings.model_copy(update={"webhook_disable_after_failures": 50}))
    try:
        for _ in range(6):
            await sender.run_once()
            await make_due(pool)
    finally:
        await sender.aclose()
    detail = (await client.get(f"{DELIVERIES}/{ids[0]['delivery_id']}", headers=admin)).json()
    assert (detail["status"], len(detail["attempts_log"])) == ("failed", 6)

    receiver.handler = lambda _: Reply()
    retried = await client.post(f"{DELIVERIES}/{ids[0]['delivery_id']}/retry", headers=admin)
    assert retried.status_code == 200
    sender = Sender(pool, settings)
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.aclose()
    last = receiver.on("/hooks")[-1]
    assert verified(made["secret"], last)["id"] == ids[0]["event_id"]
    assert_error(
        await client.post(f"{DELIVERIES}/{ids[0]['delivery_id']}/retry", headers=admin), 409
    )


async def test_an_affiliate_sees_and_retries_its_own_webhook_deliveries(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    receiver: Receiver,
    sender: Sender,
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alice_key = await affiliate_headers(client, admin, alice)
    mine = await endpoint(client, alice_key, f"{receiver.base_url}/alice")
    of_bob = await endpoint(client, admin, f"{receiver.base_url}/bob", affiliate_id=bob)
    program = await endpoint(client, admin, f"{receiver.base_url}/program")
    sent = {
        w["id"]: (await client.post(f"{API}/{w['id']}/test", headers=admin)).json()
        for w in (mine, of_bob, program)
    }
    receiver.handler = lambda _: Reply(status=500)
    await sender.run_once()

    listed = (await client.get(DELIVERIES, headers=alice_key)).json()["items"]
    assert [d["id"] for d in listed] == [sent[mine["id"]]["delivery_id"]]
    assert listed[0]["affiliate_id"] == alice
    own = await client.post(f"{DELIVERIES}/{listed[0]['id']}/retry", headers=alice_key)
    assert own.status_code == 200
    for other in (of_bob, program):
        path = f"{DELIVERIES}/{sent[other['id']]['delivery_id']}"
        assert_error(await client.get(path, headers=alice_key), 404)
        assert_error(await client.post(f"{path}/retry", headers=alice_key), 404)


async def test_the_ssrf_guard_refuses_at_every_try(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    """Saved while loopback was allowed; a sender that does not allow it refuses to send,
    at once (waiting cannot change the verdict)."""
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    sent = (await client.post(f"{API}/{made['id']}/test", headers=admin)).json()
    strict = Sender(pool, settings.model_copy(update={"sender_allowed_networks": []}))
    try:
        await strict.run_once()
    finally:
        await strict.aclose()

    assert receiver.received == []
    row = await pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", sent["delivery_id"])
    assert row is not None
    assert row["status"] == "failed"
    assert "not a public address" in row["last_error"]


async def test_a_deleted_or_disabled_endpoint_gets_nothing_more(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    sent = (await client.post(f"{API}/{made['id']}/test", headers=admin)).json()
    await client.patch(f"{API}/{made['id']}", json={"status": "disabled"}, headers=admin)
    assert await sender.run_once() == 0  # its pending delivery failed with it
    retried = await client.post(f"{DELIVERIES}/{sent['delivery_id']}/retry", headers=admin)
    assert retried.status_code == 200
    assert await sender.run_once() == 1
    assert receiver.received == []
    row = await pool.fetchrow("SELECT * FROM deliveries WHERE id = $1", sent["delivery_id"])
    assert row is not None
    assert (row["status"], row["last_error"]) == (
        "failed",
        "Undeliverable: the webhook endpoint was deleted or disabled",
    )
    body = orjson.loads(orjson.dumps(row["body"]))
    assert body["id"] == sent["event_id"]


async def test_after_a_rotation_both_secrets_sign_for_a_day(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    await client.post(f"{API}/{made['id']}/test", headers=admin)
    rotated = (await client.post(f"{API}/{made['id']}/rotate-secret", headers=admin)).json()
    assert await sender.run_once() == 1
    [request] = receiver.on("/hooks")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    # A receiver still on the old secret and one already on the new both verify.
    assert verified(made["secret"], request) == verified(rotated["secret"], request)

    await pool.execute("UPDATE webhooks SET previous_secret_until = now() - interval '1 s'")
    await client.post(f"{API}/{made['id']}/test", headers=admin)
    assert await sender.run_once() == 1
    later = receiver.on("/hooks")[-1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    verified(rotated["secret"], later)
    with pytest.raises(WebhookVerificationError):
        verified(made["secret"], later)
