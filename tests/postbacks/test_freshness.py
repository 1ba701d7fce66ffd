"""A postback judged against the advertiser cache at one catalog version and queued after
the catalog moved on is refused by the stream's script, nothing stored, and judged again
from the reloaded cache before it is answered (app.postbacks.freshness). The change is
made between the judgement and the queueing, from inside the queue's `put`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.catalog.service import CATALOG_VERSION_KEY
from app.clickid import new_click_id
from app.postbacks import freshness
from app.postbacks.records import decode
from app.postbacks.service import JUDGEMENTS
from app.settings import Settings
from app.streams import keys
from app.streams.producer import Refused, StreamProducer
from tests.helpers import assert_error, create, stream_entries
from tests.support.conversions import stream_length

Change = Callable[[], Awaitable[object]]


def change_before_queueing(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, change: Change, *, times: int = 1
) -> list[bytes]:
    """Run `change` before each of the first `times` puts of a postback; the records put."""
    queue = app.state.intake.queue
    real_put = queue.put
    put: list[bytes] = []

    async def put_after_change(
        record: bytes, *, admission: Sequence[bytes] | None = None, **kw: Any
    ) -> bool:
        put.append(record)
        if len(put) <= times:
            await change()
        return bool(await real_put(record, admission=admission, **kw))

    monkeypatch.setattr(queue, "put", put_after_change)
    return put


async def send(client: httpx.AsyncClient, token: str) -> httpx.Response:
    body = orjson.dumps({"token": token, "click_id": new_click_id()[0], "txid": "T"})
    return await client.post(
        "/postback", content=body, headers={"Content-Type": "application/json"}
    )


async def known_advertiser(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """A new advertiser whose first postback was taken (so the cache knows it)."""
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    assert (await send(client, advertiser["postback_token"])).status_code == 200
    return advertiser


async def enqueued(redis: Redis, settings: Settings) -> int:
    total = 0
    for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        total += int(await redis.hget(keys.metrics_key(key), "enqueued") or 0)
    return total


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"signing_secret": "a-secret-set-meanwhile-01"}, 401, "invalid_signature"),
        ({"ip_allowlist": ["203.0.113.0/24"]}, 403, "address_not_allowed"),
        (None, 401, "invalid_token"),  # the token rotated
    ],
)
async def test_an_advertiser_changed_between_judgement_and_queueing_is_judged_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any] | None,
    status: int,
    code: str,
) -> None:
    advertiser = await known_advertiser(client, admin)
    url = f"/api/v1/advertisers/{advertiser['id']}"

    async def through_the_api() -> object:
        if change is None:
            return await client.post(f"{url}/rotate-token", headers=admin)
        return await client.patch(url, json=change, headers=admin)

    put = change_before_queueing(app, monkeypatch, through_the_api)
    assert_error(await send(client, advertiser["postback_token"]), status, code)
    # Judged on the old settings and put once; the stream refused it; judged again, it
    # was refused before it was put a second time.
    assert len(put) == 1
    assert await stream_length(redis, settings) == 1  # the first postback only
    assert await enqueued(redis, settings) == 1


async def test_a_postback_refused_for_a_moved_version_is_queued_once_when_judged_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    advertiser = await known_advertiser(client, admin)
    put = change_before_queueing(app, monkeypatch, lambda: redis.incr(CATALOG_VERSION_KEY))
    response = await send(client, advertiser["postback_token"])
    assert response.status_code == 200
    assert len(put) == 2
    assert await stream_length(redis, settings) == 2
    assert await enqueued(redis, settings) == 2
    stored = [
        decode(fields[b"r"]).advertiser_id
        for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        for _, fields in await stream_entries(redis, key)
    ]
    assert stored == [advertiser["id"]] * 2


async def test_a_catalog_changing_at_every_judgement_gets_a_503_and_nothing_stored(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    redis: Redis,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    advertiser = await known_advertiser(client, admin)
    put = change_before_queueing(
        app, monkeypatch, lambda: redis.incr(CATALOG_VERSION_KEY), times=JUDGEMENTS
    )
    assert_error(await send(client, advertiser["postback_token"]), 503, "unavailable")
    assert len(put) == JUDGEMENTS
    assert await stream_length(redis, settings) == 1
    # The sender retries, and the catalog has settled by then.
    assert (await send(client, advertiser["postback_token"])).status_code == 200
    assert await stream_length(redis, settings) == 2


async def test_the_script_takes_the_current_version_only(settings: Settings, redis: Redis) -> None:
    """Without a version key (a fresh install) the version is b""; a pixel's record, with
    no arguments, is stored whatever the version."""
    shard = "conversions:{0}"
    producer = StreamProducer(
        str(settings.redis_url),
        [shard],
        budget_s=5,
        max_batch=8,
        admission=freshness.ADMISSION,
        admission_keys=freshness.admission_keys(cluster=False),
    )
    producer.start()
    try:
        assert await producer.enqueue(b"a", shard=0, admission=freshness.admission_args(b""))
        await redis.incr(CATALOG_VERSION_KEY)
        with pytest.raises(Refused):
            await producer.enqueue(b"b", shard=0, admission=freshness.admission_args(b""))
        assert await producer.enqueue(b"c", shard=0, admission=freshness.admission_args(b"1"))
        await redis.incr(CATALOG_VERSION_KEY)
        with pytest.raises(Refused):
            await producer.enqueue(b"d", shard=0, admission=freshness.admission_args(b"1"))
        assert await producer.enqueue(b"e", shard=0)
    finally:
        await producer.stop()
    assert [f[b"r"] for _, f in await stream_entries(redis, shard)] == [b"a", b"c", b"e"]
