"""Webhook signing secrets at rest: sealed (app/sealing.py) with their endpoint's row and
purpose as associated data. `previous_secret` is the same secret moved by a rotation
within its row, so both columns share one purpose."""

from __future__ import annotations

from app import sealing

PURPOSE = "signing_secret"

SAMPLE = f"SELECT id, secret FROM webhooks WHERE secret LIKE '{sealing.PREFIX}%' LIMIT 1"
# Secrets stored before sealing, for `tracker seal-secrets`.
PLAIN = f"""
SELECT id, secret, previous_secret FROM webhooks
WHERE secret NOT LIKE '{sealing.PREFIX}%' OR previous_secret NOT LIKE '{sealing.PREFIX}%'
ORDER BY id FOR UPDATE
"""
SET_SEALED = """
UPDATE webhooks SET secret = $2, previous_secret = $3 WHERE id = $1
    AND secret = $4 AND previous_secret IS NOT DISTINCT FROM $5
"""


def aad(webhook_id: int) -> bytes:
    return sealing.context("webhooks", webhook_id, PURPOSE)


SEALED = sealing.Kind(
    what="webhook signing secrets", sample=SAMPLE, aads=lambda webhook_id: (aad(webhook_id),)
)


def seal(sealer: sealing.Sealer | None, webhook_id: int, secret: str) -> str:
    return sealing.require(sealer).seal_text(secret, aad(webhook_id))


def open_secret(sealer: sealing.Sealer | None, webhook_id: int, stored: str) -> str:
    return sealing.open_text(sealer, stored, aad(webhook_id))
