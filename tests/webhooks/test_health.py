"""An endpoint failing every try is disabled: after N in a row (3 here, 50 by default),
after 3 days of failures, or at once on 410 Gone; its pending deliveries fail with it."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import httpx
import pytest

from app.sender.engine import Sender
from app.settings import Settings
from tests.sender.receiver import Receiver, Reply
from tests.webhooks.conftest import API, DISABLE_AFTER, deliveries, endpoint, make_due


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One try at a time, so the count is exact: the threshold-th failure disables."""
    return settings.model_copy(update={"sender_concurrency": 1})


async def send_tests(
    client: httpx.AsyncClient, admin: dict[str, str], webhook_id: int, n: int
) -> None:
    for _ in range(n):
        assert (await client.post(f"{API}/{webhook_id}/test", headers=admin)).status_code == 202


async def state(client: httpx.AsyncClient, admin: dict[str, str], webhook_id: int) -> Any:
    return (await client.get(f"{API}/{webhook_id}", headers=admin)).json()


async def test_disabled_after_failures_in_a_row(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    receiver.handler = lambda _: Reply(status=500)
    await send_tests(client, admin, made["id"], DISABLE_AFTER + 2)
    for _ in range(DISABLE_AFTER - 1):
        await sender.run_once()
    assert (await state(client, admin, made["id"]))["consecutive_failures"] == DISABLE_AFTER - 1
    assert (await state(client, admin, made["id"]))["status"] == "enabled"

    with caplog.at_level(logging.WARNING, logger="app.webhooks.health"):
        await sender.run_once()
    after = await state(client, admin, made["id"])
    assert after["status"] == "disabled"
    assert after["disabled_reason"] == f"{DISABLE_AFTER} tries in a row failed"
    assert after["disabled_at"] is not None
    assert f"webhook endpoint {made['id']}" in caplog.text
    # The program owner is told by e-mail, in the transaction that disabled it.
    mails = await pool.fetch("SELECT kind, to_owner, data FROM mail_outbox")
    assert [(m["kind"], m["to_owner"], m["data"]["webhook_id"]) for m in mails] == [
        ("webhook_disabled", True, made["id"])
    ]
    rows = await deliveries(pool)
    assert {r["status"] for r in rows} == {"failed"}
    assert sum(r["attempts"] for r in rows) == DISABLE_AFTER
    await make_due(pool)
    assert await sender.run_once() == 0
    assert len(receiver.received) == DISABLE_AFTER


async def test_a_success_starts_the_count_again(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    answers = iter([500] * (DISABLE_AFTER - 1) + [200] + [500] * (DISABLE_AFTER - 1))
    receiver.handler = lambda _: Reply(status=next(answers))
    await send_tests(client, admin, made["id"], 2 * DISABLE_AFTER - 1)
    for _ in range(2 * DISABLE_AFTER - 1):
        await sender.run_once()
    after = await state(client, admin, made["id"])
    assert (after["status"], after["consecutive_failures"]) == ("enabled", DISABLE_AFTER - 1)

    # Enabled again by hand after being disabled: a fresh count.
    await client.patch(f"{API}/{made['id']}", json={"status": "disabled"}, headers=admin)
    again = (
        await client.patch(f"{API}/{made['id']}", json={"status": "enabled"}, headers=admin)
    ).json()
    assert (again["consecutive_failures"], again["failing_since"]) == (0, None)


async def test_disabled_after_three_days_of_failures(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    receiver.handler = lambda _: Reply(status=503)
    await send_tests(client, admin, made["id"], 1)
    await sender.run_once()
    assert (await state(client, admin, made["id"]))["status"] == "enabled"
    # Stand in for the clock: the run of failures began 3 days ago.
    await pool.execute("UPDATE webhooks SET failing_since = now() - interval '3 days 1 second'")
    await make_due(pool)
    await sender.run_once()
    after = await state(client, admin, made["id"])
    assert after["status"] == "disabled"
    assert after["disabled_reason"].startswith("every try failed for 3 days")


async def test_410_gone_disables_at_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    receiver.handler = lambda _: Reply(status=410)
    await send_tests(client, admin, made["id"], 1)
    await sender.run_once()
    after = await state(client, admin, made["id"])
    assert (after["status"], after["disabled_reason"]) == (
        "disabled",
        "the endpoint answered 410 Gone",
    )
    [row] = await deliveries(pool)
    assert (row["status"], row["attempts"]) == ("failed", 1)
