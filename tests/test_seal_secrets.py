"""app/seal_secrets.py: `tracker seal-secrets` seals what was stored before sealing, in
place, once; what it seals opens to the same secret."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from app import seal_secrets, sealing
from app.integrations import sealed as integration_secrets
from app.settings import Settings
from app.webhooks import sealed as webhook_secrets
from tests.integrations.support import make_integration
from tests.support.webhooks import subscribe

GENERIC = {"click_id": "/c", "txid": "/t", "stage": "/s"}
OLD, PREVIOUS, CRM = "whsec_b2xkb2xkb2xkb2xk", "whsec_cHJldnByZXZwcmV2", "crm-key-0123456789abcdef"


async def test_plaintext_secrets_are_sealed_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    shop: dict[str, Any],
    pool: asyncpg.Pool,
    settings: Settings,
) -> None:
    sealer = sealing.sealer_of(settings)
    assert sealer is not None
    legacy = await subscribe(pool, ["payout.paid"])
    await pool.execute(
        "UPDATE webhooks SET secret = $2, previous_secret = $3,"
        " previous_secret_until = now() + interval '1 day' WHERE id = $1",
        legacy,
        OLD,
        PREVIOUS,
    )
    crm = await make_integration(client, admin, shop, provider="generic", field_map=GENERIC)
    await pool.execute("UPDATE integrations SET secret = $2 WHERE id = $1", crm["id"], CRM)
    fresh = await make_integration(client, admin, shop, provider="generic", field_map=GENERIC)
    before_fresh = await pool.fetchval("SELECT secret FROM integrations WHERE id = $1", fresh["id"])

    async with pool.acquire() as conn:
        assert await seal_secrets.seal_stored(conn, sealer) == {"webhooks": 1, "integrations": 1}
        assert await seal_secrets.seal_stored(conn, sealer) == {"webhooks": 0, "integrations": 0}

    hook = await pool.fetchrow("SELECT secret, previous_secret FROM webhooks WHERE id = $1", legacy)
    assert hook is not None
    assert OLD not in str(dict(hook))
    assert PREVIOUS not in str(dict(hook))
    assert webhook_secrets.open_secret(sealer, legacy, hook["secret"]) == OLD
    assert webhook_secrets.open_secret(sealer, legacy, hook["previous_secret"]) == PREVIOUS
    stored = await pool.fetchval("SELECT secret FROM integrations WHERE id = $1", crm["id"])
    assert sealing.is_sealed(stored)
    assert integration_secrets.open_key(sealer, crm["id"], stored) == CRM
    # One sealed already is left as it was.
    after = await pool.fetchval("SELECT secret FROM integrations WHERE id = $1", fresh["id"])
    assert after == before_fresh
