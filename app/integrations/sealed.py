"""CRM integrations' HMAC keys at rest (HubSpot's client secret, the Salesforce and
generic signing keys): sealed (app/sealing.py) with their integration's row and purpose as
associated data. Zoho's token is kept as its SHA-256 only and needs no key."""

from __future__ import annotations

from app import sealing

PURPOSE = "hmac_key"

SAMPLE = f"SELECT id, secret FROM integrations WHERE secret LIKE '{sealing.PREFIX}%' LIMIT 1"
# Keys stored before sealing, for `tracker seal-secrets`.
PLAIN = f"""
SELECT id, secret FROM integrations
WHERE secret NOT LIKE '{sealing.PREFIX}%' ORDER BY id FOR UPDATE
"""
SET_SEALED = "UPDATE integrations SET secret = $2 WHERE id = $1 AND secret = $3"


def aad(integration_id: int) -> bytes:
    return sealing.context("integrations", integration_id, PURPOSE)


SEALED = sealing.Kind(
    what="CRM integrations' HMAC keys",
    sample=SAMPLE,
    aads=lambda integration_id: (aad(integration_id),),
)


def seal(sealer: sealing.Sealer | None, integration_id: int, secret: str) -> str:
    return sealing.require(sealer).seal_text(secret, aad(integration_id))


def open_key(sealer: sealing.Sealer | None, integration_id: int, stored: str) -> str:
    return sealing.open_text(sealer, stored, aad(integration_id))
