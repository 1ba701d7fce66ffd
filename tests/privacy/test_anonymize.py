"""IP_ANONYMIZE: only the /24 or /48 is kept, and country and uniqueness still work on it."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.clicks import enrich
from app.db import Pool
from app.privacy import anonymize
from app.settings import Settings
from app.streams import keys
from tests.helpers import reload_links
from tests.support import dump
from tests.support.conversions import run_worker

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"


@pytest.mark.parametrize(
    ("ip", "kept"),
    [
        ("8.8.8.8", "8.8.8.0/24"),
        ("203.0.113.255", "203.0.113.0/24"),
        ("2001:4860:4860::8888", "2001:4860:4860::/48"),
        ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::/48"),
        ("::ffff:192.0.2.9", "192.0.2.0/24"),
        ("", ""),
        ("not-an-ip", ""),
    ],
)
def test_truncate_keeps_the_24_or_48(ip: str, kept: str) -> None:
    assert anonymize.truncate(ip) == kept


def test_truncate_agrees_with_the_ipaddress_module() -> None:
    rng = random.Random(7)
    for _ in range(5_000):
        v4 = ipaddress.IPv4Address(rng.getrandbits(32))
        v6 = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice((0, 16, 64, 100)))
        for address, prefix in ((v4, 24), (v6, 48)):
            expected = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
            assert anonymize.truncate(str(address)) == expected


def test_the_country_of_the_kept_network_is_the_country_of_the_address() -> None:
    """Registries delegate IPv4 in /24s or larger and IPv6 in /48s or larger: the lookup
    table in use agrees, address by address, on a sample of both."""
    rng = random.Random(13)
    known = 0
    samples = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(20_000)]
    for top in (0x2001, 0x2400, 0x2600, 0x2A00):
        samples += [
            str(ipaddress.IPv6Address((top << 112) | rng.getrandbits(108))) for _ in range(5_000)
        ]
    for ip in samples:
        full = enrich.country_of(ip)
        known += full is not None
        assert enrich.country_of(anonymize.lookup_address(anonymize.truncate(ip))) == full, ip
    assert known > 15_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"], "ip_anonymize": True})


async def visit(client: httpx.AsyncClient, code: str, ip: str) -> None:
    headers = {"User-Agent": BROWSER, "X-Forwarded-For": ip}
    assert (await client.get(f"/c/{code}", headers=headers)).status_code == 302
    client.cookies.clear()


async def test_only_the_network_is_written_and_counted(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    code = catalog["alice_link"]["code"]
    for ip in ("8.8.8.8", "8.8.8.9", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860:1::1"):
        await visit(client, code, ip)
    pixel = await client.get(
        "/pixel.gif",
        params={"click_id": new_click_id()[0], "txid": "t"},
        headers={"X-Forwarded-For": "8.8.8.8"},
    )
    assert pixel.status_code == 200
    # Nothing finer than the network reaches Redis, not even the pixel's rate counter.
    waiting = await dump.redis_bytes(redis)
    for full in (b"8.8.8.8", b"8.8.8.9", b"8.8.4.4", b"4860::8888", b"4860:1::1"):
        assert full not in waiting
    assert b'"ip":"8.8.8.0/24"' in waiting
    assert b"pixels:rate:8.8.8.0/24:" in waiting

    await run_worker(settings)
    rows = await pool.fetch("SELECT ip::text, country, is_unique FROM clicks")
    # Clicks in one millisecond have no order, so the rows are compared as a multiset.
    assert sorted((r["ip"], r["country"]) for r in rows) == [
        ("2001:4860:4860::/48", "US"),
        ("2001:4860:4860::/48", "US"),
        ("8.8.4.0/24", "US"),
        ("8.8.8.0/24", "US"),
        ("8.8.8.0/24", "US"),
    ]
    # A visitor is its network and user agent: 8.8.8.8 and 8.8.8.9 with one browser are one.
    unique = {
        ip: sum(r["is_unique"] for r in rows if r["ip"] == ip) for ip in {r["ip"] for r in rows}
    }
    assert unique == {"8.8.8.0/24": 1, "8.8.4.0/24": 1, "2001:4860:4860::/48": 1}
    stats = (await client.get("/api/v1/stats", headers=admin)).json()["totals"]
    assert (stats["clicks"], stats["unique_clicks"]) == (5, 3)
    shard_keys = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    assert sum([await redis.xlen(k + ":dead") for k in shard_keys]) == 0

    # An erasure by the kept network finds its rows.
    response = await client.post("/api/v1/privacy/erase", json={"ip": "8.8.8.0/24"}, headers=admin)
    assert response.json()["counts"]["clicks"] == 2
