"""What a postback signature covers is exactly what is used: a signed request takes its
parameters from the signed bytes alone (the body, or the raw query string without one)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.catalog import service as catalog_service
from app.clickid import new_click_id, parse_click_id
from app.db import Pool
from app.settings import Settings
from app.signing import sign
from app.streams import keys
from tests.helpers import assert_error, create, stream_entries
from tests.support.conversions import postback

SECRET = "sekret"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.fixture
async def signed(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> str:
    """The postback token of an advertiser that signs its postbacks."""
    advertiser = await create(client, "advertisers", {"name": "Signed"}, admin)
    await pool.execute(
        "UPDATE advertisers SET signing_secret = $1 WHERE id = $2", SECRET, advertiser["id"]
    )
    await catalog_service.notify_changed(redis)
    await app.state.intake.cache.load()
    token: str = advertiser["postback_token"]
    return token


async def queued(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    return [
        orjson.loads(fields[b"r"])
        for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        for _, fields in await stream_entries(redis, key)
    ]


def signature_of(payload: bytes) -> str:
    return sign(SECRET, int(time.time()), payload)


async def test_a_captured_signed_json_post_replayed_as_a_form_with_a_forged_query_is_refused(
    client: httpx.AsyncClient, signed: str, settings: Settings, redis: Redis
) -> None:
    own_click = new_click_id()[0]
    body = orjson.dumps({"token": signed, "click_id": own_click, "txid": "S-1", "amount": "10"})
    signature = signature_of(body)
    sent = await client.post(
        "/postback", content=body, headers={"Content-Type": JSON, "X-Signature": signature}
    )
    assert sent.status_code == 200, sent.text
    # The attack of issue 11: body and header captured, replayed within the max age as a
    # form (the JSON gives no form parameters) with the conversion forged in the URL.
    replayed = await client.post(
        "/postback",
        params={
            "token": signed,
            "click_id": new_click_id()[0],
            "txid": "forged-1",
            "amount": "99999",
        },
        content=body,
        headers={"Content-Type": FORM, "X-Signature": signature},
    )
    assert_error(replayed, 400, "unsigned_parameters")
    [record] = await queued(redis, settings)
    assert (record["cid"], record["tx"], record["amt"]) == (
        str(parse_click_id(own_click)),
        "S-1",
        "10",
    )


BODIES_WITHOUT_PARAMETERS = [
    pytest.param(b'{"sub1": "x", "other": 1}', JSON, id="json-unknown-keys"),
    pytest.param(b'{"click_id": null, "txid": null, "amount": null}', JSON, id="json-nulls"),
    pytest.param(b'{"token": "TOKEN"}', JSON, id="json-token-only"),
    pytest.param(b"{}", JSON, id="json-empty-object"),
    pytest.param(b"sub1=x&other=1", FORM, id="form-unknown-keys"),
    pytest.param(b"token=TOKEN", FORM, id="form-token-only"),
    pytest.param(b"   ", FORM, id="form-blank"),
    # Read as a form, this JSON would give click_id and amount out of a txid's text.
    pytest.param(
        b'{"clickid": "CLICK", "txid": "S-3&click_id=OTHER&amount=99999&z="}',
        FORM,
        id="json-as-form",
    ),
    pytest.param(
        b'\xef\xbb\xbf [{"txid": "S-4&click_id=OTHER&amount=99999&z="}]',
        FORM,
        id="json-array-with-bom-as-form",
    ),
]


@pytest.mark.parametrize(("body", "content_type"), BODIES_WITHOUT_PARAMETERS)
async def test_a_signed_body_without_parameters_is_a_400_whatever_the_query_says(
    client: httpx.AsyncClient,
    signed: str,
    settings: Settings,
    redis: Redis,
    body: bytes,
    content_type: str,
) -> None:
    body = (
        body.replace(b"TOKEN", signed.encode())
        .replace(b"CLICK", new_click_id()[0].encode())
        .replace(b"OTHER", new_click_id()[0].encode())
    )
    response = await client.post(
        "/postback",
        params={"token": signed, "click_id": new_click_id()[0], "txid": "Q-1"},
        content=body,
        headers={"Content-Type": content_type, "X-Signature": signature_of(body)},
    )
    assert_error(response, 400, "unsigned_parameters")
    assert await queued(redis, settings) == []


async def test_signed_requests_use_exactly_what_is_signed(
    client: httpx.AsyncClient, signed: str, settings: Settings, redis: Redis
) -> None:
    clicks = [new_click_id()[0] for _ in range(3)]
    # A form body, the token in the URL only: the signature covers the body.
    form = urlencode({"clickid": clicks[0], "txid": "F-1", "amount": "5.5"}).encode()
    response = await client.post(
        "/postback",
        params={"token": signed, "amount": "99999", "status": "rejected"},
        content=form,
        headers={"Content-Type": FORM, "X-Signature": signature_of(form)},
    )
    assert response.status_code == 200, response.text
    # A GET: the signature covers the raw query string.
    query = urlencode({"token": signed, "click_id": clicks[1], "txid": "G-1"})
    response = await client.get(
        f"/postback?{query}", headers={"X-Signature": signature_of(query.encode())}
    )
    assert response.status_code == 200, response.text
    # A POST without a body is signed over its query string like a GET.
    query = urlencode({"token": signed, "click_id": clicks[2], "txid": "P-1"})
    response = await client.post(
        f"/postback?{query}", headers={"X-Signature": signature_of(query.encode())}
    )
    assert response.status_code == 200, response.text
    # A signed GET with one parameter more is no longer what was signed.
    forged = f"{query}&amount=99999"
    response = await client.get(
        f"/postback?{forged}", headers={"X-Signature": signature_of(query.encode())}
    )
    assert_error(response, 401, "invalid_signature")
    records = await queued(redis, settings)
    assert sorted((r["tx"], r["cid"], r["amt"], r["st"]) for r in records) == [
        ("F-1", str(parse_click_id(clicks[0])), "5.5", "approved"),
        ("G-1", str(parse_click_id(clicks[1])), None, "approved"),
        ("P-1", str(parse_click_id(clicks[2])), None, "approved"),
    ]


async def test_an_unsigned_body_without_parameters_still_leaves_the_query_string(
    client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    """Nothing is signed, so nothing changes for advertisers without a secret."""
    click_id = new_click_id()[0]
    response = await client.post(
        "/postback",
        params={"token": shop["token"], "click_id": click_id, "txid": "U-1"},
        content=b'{"other": null}',
        headers={"Content-Type": JSON},
    )
    assert response.status_code == 200, response.text
    [record] = await queued(redis, settings)
    assert (record["cid"], record["tx"]) == (str(parse_click_id(click_id)), "U-1")
    assert (await postback(client, shop["token"], click_id=click_id)).status_code == 200
