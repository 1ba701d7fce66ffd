"""The SSRF guard, with the loopback allowance switched off. No traffic leaves loopback:
refused addresses are refused before any connection, and public ones are only checked."""

from __future__ import annotations

import asyncio
import ipaddress

import asyncpg
import httpx
import pytest

from app.sender import ssrf
from app.sender.engine import Sender
from app.settings import Settings
from tests.fixtures.receiver import LOOPBACK
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver

REFUSED = [
    pytest.param("127.0.0.1", id="loopback-v4"),
    pytest.param("127.255.0.9", id="loopback-v4-range"),
    pytest.param("::1", id="loopback-v6"),
    pytest.param("10.0.0.1", id="private-10"),
    pytest.param("172.16.0.1", id="private-172.16"),
    pytest.param("172.31.255.254", id="private-172.31"),
    pytest.param("192.168.1.1", id="private-192.168"),
    pytest.param("169.254.169.254", id="metadata"),
    pytest.param("169.254.0.1", id="link-local-v4"),
    pytest.param("fe80::1", id="link-local-v6"),
    pytest.param("fd00:ec2::254", id="unique-local-v6-metadata"),
    pytest.param("224.0.0.1", id="multicast-v4"),
    pytest.param("239.255.255.250", id="multicast-v4-ssdp"),
    pytest.param("ff02::1", id="multicast-v6"),
    pytest.param("::ffff:127.0.0.1", id="v4-mapped-loopback"),
    pytest.param("::ffff:169.254.169.254", id="v4-mapped-metadata"),
    pytest.param("::ffff:10.0.0.1", id="v4-mapped-private"),
    pytest.param("0.0.0.0", id="unspecified-v4"),
    pytest.param("::", id="unspecified-v6"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("100.127.255.254", id="cgnat-top"),
    pytest.param("240.0.0.1", id="reserved"),
    pytest.param("255.255.255.255", id="broadcast"),
    pytest.param("198.18.0.1", id="benchmarking"),
    pytest.param("2002:7f00:1::", id="6to4-of-loopback"),
    pytest.param("64:ff9b::a9fe:a9fe", id="nat64-of-metadata"),
    pytest.param("::7f00:1", id="v4-compatible-loopback"),
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_address_classes(address: str) -> None:
    with pytest.raises(ssrf.RefusedAddress):
        ssrf.check_address(ipaddress.ip_address(address), [])


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    ssrf.check_address(ipaddress.ip_address(address), [])


def test_allowance_opens_only_the_networks_listed() -> None:
    allowed = ssrf.parse_networks(LOOPBACK)
    ssrf.check_address(ipaddress.ip_address("127.0.0.1"), allowed)
    ssrf.check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)
    for other in ("10.0.0.1", "169.254.169.254", "::1"):
        with pytest.raises(ssrf.RefusedAddress):
            ssrf.check_address(ipaddress.ip_address(other), allowed)


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("localhost", id="name-resolving-to-loopback"),
        pytest.param("2130706433", id="decimal-loopback"),
        pytest.param("0x7f.1", id="hex-loopback"),
        pytest.param("[::1]", id="bracketed-v6"),
    ],
)
async def test_names_are_resolved_and_checked(host: str) -> None:
    with pytest.raises(ssrf.RefusedAddress):
        await ssrf.resolve_public(host, 80, [])


async def test_unresolvable_name_is_refused_at_send() -> None:
    with pytest.raises(ssrf.RefusedAddress, match="cannot resolve"):
        await ssrf.resolve_public("no-such-host.invalid", 80, [])


@pytest.fixture
def strict_settings(sender_settings: Settings) -> Settings:
    return sender_settings.model_copy(update={"sender_allowed_networks": []})


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
async def test_sender_refuses_loopback_receiver_without_the_allowance(
    pool: asyncpg.Pool, strict_settings: Settings, receiver: Receiver, rows: Rows, host: str
) -> None:
    delivery_id = await rows.delivery(f"http://{host}:{receiver.port}/pb")
    sender = Sender(pool, strict_settings)
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.aclose()

    assert receiver.received == []
    delivery = await rows.get(delivery_id)
    # The guard's refusal is permanent: failed at the first try, never retried.
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 1
    assert "RefusedAddress" in delivery["last_error"]
    assert "not a public address" in delivery["last_error"]


async def test_refused_delivery_is_failed_with_its_reason_in_the_api(
    pool: asyncpg.Pool,
    strict_settings: Settings,
    receiver: Receiver,
    rows: Rows,
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    """A postback URL whose name resolves to a private address outside
    SENDER_ALLOWED_NETWORKS: one try, then `failed`, and nothing more."""
    delivery_id = await rows.delivery(f"http://localhost:{receiver.port}/pb")
    sender = Sender(pool, strict_settings)
    try:
        await sender.run(stop=asyncio.Event(), burst=True)
        await rows.make_due()  # were it still pending, it would be due again now
        assert await sender.run_once() == 0
    finally:
        await sender.aclose()

    assert receiver.received == []
    assert len(await rows.attempts(delivery_id)) == 1
    listed = await client.get("/api/v1/deliveries", params={"status": "failed"}, headers=admin)
    [item] = listed.json()["items"]
    assert item["id"] == delivery_id
    assert item["status"] == "failed"
    assert "is not a public address" in item["last_error"]
    assert (await client.get("/api/v1/deliveries?status=pending", headers=admin)).json()[
        "items"
    ] == []


async def test_unresolvable_receiver_stays_pending_for_a_retry(
    pool: asyncpg.Pool, strict_settings: Settings, rows: Rows
) -> None:
    """A name without an address may get one later (DNS set up after the URL): retried."""
    delivery_id = await rows.delivery("http://no-such-host.invalid/pb")
    sender = Sender(pool, strict_settings)
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.aclose()

    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "pending"
    assert "cannot resolve" in delivery["last_error"]


async def test_saved_url_check_refuses_literals_and_names(strict_settings: Settings) -> None:
    for url in (
        "http://127.0.0.1/pb",
        "http://[::1]:8080/pb",
        "https://169.254.169.254/latest/meta-data",
        "http://localhost/pb",
    ):
        with pytest.raises(ssrf.RefusedAddress):
            await ssrf.check_saved_url(url, [])
    # Unresolvable today is accepted: the sender checks again before every request.
    await ssrf.check_saved_url("https://aff.example/pb", [])
    await ssrf.check_saved_url("http://127.0.0.1/pb", ssrf.parse_networks(LOOPBACK))
