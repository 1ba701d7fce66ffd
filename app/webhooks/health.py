"""An endpoint's health: the run of failed tries the sender reports, and disabling an
endpoint that keeps failing (or answers 410 Gone, per Standard Webhooks).

The sender calls `record_try` in the transaction that records each webhook try.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from app.db import Executor
from app.mail import service as mail_service
from app.settings import Settings
from app.webhooks import queries

logger = logging.getLogger(__name__)

GONE = "endpoint disabled or deleted"


@dataclass(frozen=True, slots=True)
class DisablePolicy:
    """An endpoint is disabled once `failures` tries in a row failed, or every try has
    failed for `failing_for`."""

    failures: int
    failing_for: timedelta

    @classmethod
    def of(cls, settings: Settings) -> DisablePolicy:
        return cls(
            failures=settings.webhook_disable_after_failures,
            failing_for=timedelta(seconds=settings.webhook_disable_after_s),
        )


async def record_try(
    conn: Executor, webhook_id: int, *, ok: bool, status_code: int | None, policy: DisablePolicy
) -> str | None:
    """Count a try of the endpoint. After a failed try: why the delivery must not be
    tried again (the endpoint is disabled, by this try or before, or deleted), or None."""
    if ok:
        await conn.execute(queries.RESET_FAILURES, webhook_id)
        return None
    run = await conn.fetchrow(queries.COUNT_FAILURE, webhook_id)
    if run is None:
        return GONE
    if status_code == 410:
        reason = "the endpoint answered 410 Gone"
    elif run["consecutive_failures"] >= policy.failures:
        reason = f"{run['consecutive_failures']} tries in a row failed"
    elif run["failing_for"] >= policy.failing_for:
        reason = f"every try failed for {run['failing_for']}"
    else:
        return None
    await disable(conn, webhook_id, reason=reason)
    return f"endpoint disabled: {reason}"


async def record_tries(
    conn: Executor,
    tries: Sequence[tuple[int, bool, int | None]],
    *,
    policy: DisablePolicy,
) -> list[str | None]:
    """Count a batch of (endpoint, ok, status code) tries in order, as `record_try` does
    one by one; for each, why its delivery must not be tried again, or None.

    The endpoints to change (those with a failed try, or failures to reset) are locked
    first, in ID order, so that concurrent batches cannot deadlock. An endpoint with
    nothing to reset and only good tries costs nothing (the common case)."""
    stops: list[str | None] = [None] * len(tries)
    if not tries:
        return stops
    endpoints = sorted({webhook_id for webhook_id, _, _ in tries})
    failing = sorted({webhook_id for webhook_id, ok, _ in tries if not ok})
    # True: the endpoint's count may be above 0, so a good try must reset it.
    dirty = {r["id"]: True for r in await conn.fetch(queries.LOCK_FOR_TRIES, endpoints, failing)}
    disabled: set[int] = set()
    for i, (webhook_id, ok, status_code) in enumerate(tries):
        if webhook_id not in dirty:
            # Not locked: no failure to reset, or (a failed try) the endpoint is deleted.
            stops[i] = None if ok else GONE
            continue
        if ok and not dirty[webhook_id]:
            continue
        stops[i] = await record_try(conn, webhook_id, ok=ok, status_code=status_code, policy=policy)
        dirty[webhook_id] = not ok
        if stops[i] is not None:
            disabled.add(webhook_id)
    # A failed try before the one that disabled its endpoint must not be pending again.
    for i, (webhook_id, ok, _) in enumerate(tries):
        if webhook_id in disabled and not ok and stops[i] is None:
            stops[i] = GONE
    return stops


async def disable(conn: Executor, webhook_id: int, *, reason: str) -> bool:
    """Disable an enabled endpoint for `reason`; its pending deliveries fail with it.
    Whether it was enabled."""
    endpoint = await conn.fetchrow(queries.DISABLE, webhook_id, reason)
    if endpoint is None:
        return False
    await conn.execute(queries.FAIL_PENDING, webhook_id, f"endpoint disabled: {reason}")
    await endpoint_disabled(conn, endpoint)
    return True


async def endpoint_disabled(conn: Executor, endpoint: asyncpg.Record) -> None:
    """Tell the program owner that an endpoint was disabled: a mail in the outbox of the
    transaction that disabled it (it goes out if and only if the endpoint stays so)."""
    logger.warning(
        "webhook endpoint %s (%s) disabled: %s",
        endpoint["id"],
        endpoint["url"],
        endpoint["disabled_reason"],
    )
    await mail_service.notify_owner(
        conn,
        "webhook_disabled",
        {
            "webhook_id": endpoint["id"],
            "url": endpoint["url"],
            "reason": endpoint["disabled_reason"],
        },
    )
