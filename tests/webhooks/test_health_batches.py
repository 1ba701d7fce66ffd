"""An endpoint's health when its tries are recorded in batches: counted in order as one by
one, disabled by the try that reaches the threshold, and concurrent batches over the same
endpoints never deadlock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from app.sender import deliveries
from app.sender.attempt import Attempt
from app.settings import Settings
from app.webhooks import health
from tests.sender.receiver import Receiver
from tests.webhooks.conftest import DISABLE_AFTER, endpoint
from tests.webhooks.test_health import send_tests, state

OK = Attempt(200, None, 2, "ok")
DOWN = Attempt(500, "HTTP 500", 2, "down")


async def claimed(pool: asyncpg.Pool, webhook_id: int) -> list[int]:
    rows = await deliveries.claim(pool, 100, busy=[])
    return sorted(r["id"] for r in rows if r["webhook_id"] == webhook_id)


def outcomes(ids: list[int], webhook_id: int, attempts: list[Attempt]) -> list[deliveries.Outcome]:
    return [
        deliveries.Outcome(i, a, None if a.ok else later(), webhook_id)
        for i, a in zip(ids, attempts, strict=True)
    ]


def later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=1)


async def test_a_batch_reaching_the_threshold_disables_and_fails_the_whole_run(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    await send_tests(client, admin, made["id"], DISABLE_AFTER + 2)
    ids = await claimed(pool, made["id"])
    policy = health.DisablePolicy.of(settings)

    statuses = await deliveries.record_many(
        pool, outcomes(ids, made["id"], [DOWN] * len(ids)), policy=policy
    )

    # The earlier failures of the run are not left pending for a disabled endpoint.
    assert statuses == ["failed"] * len(ids)
    after = await state(client, admin, made["id"])
    assert after["status"] == "disabled"
    assert after["disabled_reason"] == f"{DISABLE_AFTER} tries in a row failed"
    mails = await pool.fetch("SELECT kind FROM mail_outbox")
    assert [m["kind"] for m in mails] == ["webhook_disabled"]  # the owner is told once
    assert await pool.fetchval("SELECT count(*) FROM delivery_attempts") == len(ids)


async def test_a_good_try_within_a_batch_starts_the_count_again(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    made = await endpoint(client, admin, f"{receiver.base_url}/hooks")
    answers = [DOWN] * (DISABLE_AFTER - 1) + [OK] + [DOWN] * (DISABLE_AFTER - 1) + [OK, OK]
    await send_tests(client, admin, made["id"], len(answers))
    ids = await claimed(pool, made["id"])

    statuses = await deliveries.record_many(
        pool, outcomes(ids, made["id"], answers), policy=health.DisablePolicy.of(settings)
    )

    assert statuses.count("delivered") == 3
    assert statuses.count("pending") == 2 * (DISABLE_AFTER - 1)
    after = await state(client, admin, made["id"])
    assert (after["status"], after["consecutive_failures"]) == ("enabled", 0)
    assert after["failing_since"] is None


async def test_concurrent_batches_over_the_same_failing_endpoints_both_commit(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    # A high threshold, so that nothing is disabled and every try is counted.
    policy = health.DisablePolicy(failures=1000, failing_for=timedelta(days=3))
    made = [await endpoint(client, admin, f"{receiver.base_url}/hooks/{n}") for n in range(4)]
    batches: list[list[deliveries.Outcome]] = [[], []]
    for m in made:
        await send_tests(client, admin, m["id"], 20)
        ids = await claimed(pool, m["id"])
        for n, i in enumerate(ids):
            batches[n % 2].append(deliveries.Outcome(i, DOWN, later(), m["id"]))
    # Opposite orders of the endpoints: a lock taken per try would deadlock here.
    batches[1].reverse()

    for _ in range(5):
        await asyncio.gather(*(deliveries.record_many(pool, b, policy=policy) for b in batches))

    for m in made:
        after = await state(client, admin, m["id"])
        assert after["consecutive_failures"] == 20 * 5
    assert await pool.fetchval("SELECT count(*) FROM delivery_attempts") == 4 * 20 * 5
