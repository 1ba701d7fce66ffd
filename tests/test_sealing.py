"""app/sealing.py: sealed values bound to their row and purpose; the key's names, the
development key, and the start-up check that refuses a key that does not open."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from app import seal_secrets, sealing
from app.integrations import sealed as integration_secrets
from app.main import create_app
from app.settings import Settings
from tests.fixtures.receiver import LOOPBACK
from tests.integrations.support import make_integration, tracker_signature
from tests.webhooks.conftest import endpoint


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sender_allowed_networks": LOOPBACK})


GENERIC = {"click_id": "/c", "txid": "/t", "stage": "/s"}


def key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def test_a_sealed_value_opens_only_in_its_row_and_purpose_with_its_key() -> None:
    sealer = sealing.Sealer(secrets.token_bytes(32))
    here = sealing.context("webhooks", 7, "signing_secret")
    stored = sealer.seal_text("whsec_abc", here)
    assert stored.startswith(sealing.PREFIX)
    assert "whsec_abc" not in stored
    assert sealer.open_text(stored, here) == "whsec_abc"
    assert sealer.seal_text("whsec_abc", here) != stored  # a fresh nonce each time
    for elsewhere in (
        sealing.context("webhooks", 8, "signing_secret"),
        sealing.context("integrations", 7, "signing_secret"),
        sealing.context("webhooks", 7, "hmac_key"),
    ):
        with pytest.raises(sealing.DataKeyWrong):
            sealer.open_text(stored, elsewhere)
    with pytest.raises(sealing.DataKeyWrong) as wrong:
        sealing.Sealer(secrets.token_bytes(32)).open_text(stored, here)
    assert wrong.value.status == 503
    # Stored before sealing: read as it is (until `tracker seal-secrets`).
    assert sealer.open_text("whsec_plain", here) == "whsec_plain"
    assert sealing.open_text(None, "whsec_plain", here) == "whsec_plain"
    with pytest.raises(sealing.DataKeyMissing):
        sealing.open_text(None, stored, here)


def test_data_key_and_its_older_name(monkeypatch: pytest.MonkeyPatch) -> None:
    key = key_text()
    monkeypatch.setenv("PAYMENT_DATA_KEY", key)
    assert Settings().data_key == SecretStr(key)
    monkeypatch.setenv("DATA_KEY", key_text())
    assert Settings().data_key != SecretStr(key)  # DATA_KEY first
    with pytest.raises(ValueError, match="32 bytes"):
        sealing.Sealer(b"short")


def test_development_keeps_an_older_payment_key(settings: Settings) -> None:
    folder = settings.tracker_data_dir
    folder.mkdir(parents=True)
    old = secrets.token_bytes(32)
    (folder / sealing.LEGACY_KEY_FILE).write_text(base64.urlsafe_b64encode(old).decode())
    sealer = sealing.sealer_of(settings)
    assert sealer is not None
    here = sealing.context("affiliates", 1, "payment_details")
    assert sealing.Sealer(old).open(sealer.seal(b"x", here), here) == b"x"
    assert not (folder / sealing.KEY_FILE).exists()


async def test_a_wrong_key_refuses_to_start(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, pool: asyncpg.Pool
) -> None:
    await endpoint(client, admin, "http://127.0.0.1:9/in", ["payout.paid"])
    other = settings.model_copy(update={"data_key": SecretStr(key_text())})
    with pytest.raises(RuntimeError, match="does not open the stored webhook signing secrets"):
        async with LifespanManager(create_app(other)):
            pass
    production = settings.model_copy(update={"environment": "production"})
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="DATA_KEY is not set"):
            await sealing.open_sealer(settings=production, conn=conn, kinds=seal_secrets.KINDS)
        right = await sealing.open_sealer(settings=settings, conn=conn, kinds=seal_secrets.KINDS)
    assert right is not None


async def test_production_without_a_key_answers_503_on_a_new_secret(
    client: httpx.AsyncClient, admin: dict[str, str], settings: Settings
) -> None:
    production = settings.model_copy(update={"environment": "production"})
    async with LifespanManager(create_app(production)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = {"url": "http://127.0.0.1:9/in", "events": ["payout.paid"]}
            response = await c.post("/api/v1/webhooks", json=body, headers=admin)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "data_key_missing"


async def test_an_inbound_key_that_does_not_open_answers_503(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any], pool: asyncpg.Pool
) -> None:
    made = await make_integration(client, admin, shop, provider="generic", field_map=GENERIC)
    # The same row's key, sealed with another key (as after a wrong DATA_KEY).
    foreign = sealing.Sealer(secrets.token_bytes(32))
    stored = foreign.seal_text(made["secret"], integration_secrets.aad(made["id"]))
    await pool.execute("UPDATE integrations SET secret = $2 WHERE id = $1", made["id"], stored)
    body = orjson.dumps({"t": "D-1", "s": "won"})
    response = await client.post(
        f"/integrations/generic/{made['id']}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Tracker-Signature": tracker_signature(made["secret"], body),
        },
    )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "data_key_wrong"
