"""What the integration tests share: making an integration, signing calls as each CRM
does, and reading what was stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx
import orjson

from app import signing
from app.db import Pool
from tests.helpers import create

HUBSPOT_SECRET = "hubspot-client-secret-0123456789"
BASE = "http://tracker.test"


async def make_integration(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {
        "provider": "hubspot",
        "advertiser_id": shop["advertiser"]["id"],
        "offer_id": shop["offer"]["id"],
        "stage_map": {
            "appointmentscheduled": "pending",
            "closedwon": "approved",
            "closedlost": "rejected",
        },
        **fields,
    }
    if body["provider"] == "hubspot":
        body.setdefault("secret", HUBSPOT_SECRET)
    return await create(client, "integrations", body, admin)


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """As HubSpot's guide says, step by step: the UTF-8 string method + URI + body +
    timestamp, HMAC-SHA256 with the client secret, base64."""
    source = f"{method}{uri}{body.decode('utf-8')}{timestamp}".encode()
    digest = hmac.new(secret.encode("utf-8"), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def hubspot_headers(
    path: str, body: bytes, *, secret: str = HUBSPOT_SECRET, age_ms: int = 0, base: str = BASE
) -> dict[str, str]:
    timestamp = str(time.time_ns() // 1_000_000 - age_ms)
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", base + path, body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-Version": "v1",
    }


async def hubspot_call(
    client: httpx.AsyncClient, integration: dict[str, Any], document: Any, **kwargs: Any
) -> httpx.Response:
    path = f"/integrations/hubspot/{integration['id']}"
    body = orjson.dumps(document)
    return await client.post(path, content=body, headers=hubspot_headers(path, body, **kwargs))


def tracker_signature(secret: str, body: bytes, *, age_s: int = 0) -> str:
    return signing.sign(secret, int(time.time()) - age_s, body)


async def signed_call(
    client: httpx.AsyncClient, integration: dict[str, Any], document: Any, *, age_s: int = 0
) -> httpx.Response:
    path = f"/integrations/{integration['provider']}/{integration['id']}"
    body = orjson.dumps(document)
    headers = {
        "Content-Type": "application/json",
        "X-Tracker-Signature": tracker_signature(integration["secret"], body, age_s=age_s),
    }
    return await client.post(path, content=body, headers=headers)


async def history(pool: Pool) -> list[tuple[str | None, str]]:
    rows = await pool.fetch("SELECT old_status, new_status FROM conversion_history ORDER BY id")
    return [(r["old_status"], r["new_status"]) for r in rows]


async def stored_counts(pool: Pool) -> tuple[int, int]:
    """Conversions and remembered signed calls."""
    conversions = await pool.fetchval("SELECT count(*) FROM conversions")
    calls = await pool.fetchval("SELECT count(*) FROM integration_requests")
    return int(conversions), int(calls)
