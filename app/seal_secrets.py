"""Every kind of sealed value (the web app's and the sender's start-up check), and
`tracker seal-secrets`: the text secrets stored before sealing, sealed in place.

Migrations run without the key (`tracker migrate`, MIGRATE_ON_START), so secrets already
stored are not sealed by one: new ones are sealed when written, older ones are read as
they are until this command seals them (idempotent; safe while the app runs, since it
changes a row only if its secret is still the one it read).
"""

from __future__ import annotations

from app import sealing
from app.db import Connection
from app.integrations import sealed as integration_secrets
from app.partners import payment
from app.webhooks import sealed as webhook_secrets

KINDS = (payment.SEALED, webhook_secrets.SEALED, integration_secrets.SEALED)


async def seal_stored(conn: Connection, sealer: sealing.Sealer) -> dict[str, int]:
    """Seal every plaintext secret; how many rows of each table changed."""
    sealed = {"webhooks": 0, "integrations": 0}
    async with conn.transaction():
        for r in await conn.fetch(webhook_secrets.PLAIN):
            secret, previous = r["secret"], r["previous_secret"]
            aad = webhook_secrets.aad(r["id"])
            new_secret = secret if sealing.is_sealed(secret) else sealer.seal_text(secret, aad)
            new_previous = previous
            if previous is not None and not sealing.is_sealed(previous):
                new_previous = sealer.seal_text(previous, aad)
            await conn.execute(
                webhook_secrets.SET_SEALED, r["id"], new_secret, new_previous, secret, previous
            )
            sealed["webhooks"] += 1
        for r in await conn.fetch(integration_secrets.PLAIN):
            stored = sealer.seal_text(r["secret"], integration_secrets.aad(r["id"]))
            await conn.execute(integration_secrets.SET_SEALED, r["id"], stored, r["secret"])
            sealed["integrations"] += 1
    return sealed
