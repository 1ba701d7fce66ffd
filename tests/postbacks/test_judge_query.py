"""`service.judge_query` (the edge's hot path: a GET postback judged from its query's
parameters, no PostbackSources built) gives what `judge` of `query_sources` gives: the
same record's bytes, or the same refusal, for every advertiser kind and query."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from app.catalog import service as catalog_service
from app.clickid import new_click_id
from app.db import Pool
from app.errors import AppError
from app.postbacks import params, service
from app.signing import sign
from tests.helpers import create

SECRET = "sekret"
RECEIVED_US = 1_796_000_000_000_000


def outcome(judging: Any) -> object:
    try:
        record: bytes = judging()
    except AppError as exc:
        return (type(exc), exc.code, exc.status, str(exc))
    return record


async def test_judge_query_is_judge_of_the_query_sources(
    app: FastAPI, client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis
) -> None:
    plain = await create(client, "advertisers", {"name": "Plain"}, admin)
    signed = await create(client, "advertisers", {"name": "Signed"}, admin)
    near = await create(
        client, "advertisers", {"name": "Near", "ip_allowlist": ["127.0.0.0/8"]}, admin
    )
    await pool.execute(
        "UPDATE advertisers SET signing_secret = $1 WHERE id = $2", SECRET, signed["id"]
    )
    await catalog_service.notify_changed(redis)
    intake = app.state.intake
    await intake.cache.load()
    click = new_click_id()[0]
    values = {
        "token": st.sampled_from(
            [plain["postback_token"], signed["postback_token"], near["postback_token"], "nope", ""]
        ),
        "click_id": st.sampled_from([click, click.upper(), f" {click} ", "junk", ""]),
        "amount": st.sampled_from(["10.00", "0.5", "-1", "1e3", "1.23456", "abc", " 7 ", ""]),
        "status": st.sampled_from(["pending", "REJECTED", "approved", "maybe", ""]),
        "currency": st.sampled_from(["eur", "USD", "XXQ", "EURO"]),
        "offer_id": st.sampled_from(["7", "0", "x", "99999999999999999999"]),
    }
    names = [*sorted(params.KNOWN), "other"]
    part = st.one_of(
        *(st.tuples(st.just(name), strategy) for name, strategy in values.items()),
        st.tuples(st.sampled_from(names), st.text(max_size=8)),
    )

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(part, max_size=8),
        st.sampled_from(["127.0.0.1", "203.0.113.9"]),
        st.sampled_from(["none", "good", "bad"]),
    )
    def check(parts: list[tuple[str, str]], peer: str, signing: str) -> None:
        query = "&".join(f"{quote(name)}={quote(value)}" for name, value in parts).encode()
        signature = {
            "none": None,
            "good": sign(SECRET, int(time.time()), query),
            "bad": sign("other", int(time.time()), query),
        }[signing]
        raw = params.from_query(query)
        wanted = outcome(
            lambda: service.judge(
                intake,
                service.query_sources(query),
                peer=peer,
                forwarded_for=None,
                signature=signature,
                received_us=RECEIVED_US,
            )
        )
        got = outcome(
            lambda: service.judge_query(
                intake,
                query,
                raw,
                peer=peer,
                forwarded_for=None,
                signature=signature,
                received_us=RECEIVED_US,
            )
        )
        assert got == wanted

    check()
