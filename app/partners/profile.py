"""What the profile adds to an affiliate beyond its catalog fields: its references (an
admin key as manager, a commission group) and its payment details."""

from __future__ import annotations

from app.db import Executor
from app.errors import NotFound
from app.partners import payment as payment_crypto
from app.partners import queries
from app.partners.fields import MaskedPayment, Payment


class UnknownReference(ValueError):
    pass


async def check_references(conn: Executor, *, manager_id: int | None, group_id: int | None) -> None:
    """A manager is an admin key (revoked ones too: the relationship outlives the key);
    a group must exist."""
    if manager_id is not None and not await conn.fetchval(queries.IS_ADMIN_KEY, manager_id):
        raise UnknownReference(f"manager_id {manager_id} is not an admin key")
    if group_id is not None and not await conn.fetchval(queries.GROUP_EXISTS, group_id):
        raise UnknownReference(f"group {group_id} does not exist")


async def set_payment(
    conn: Executor,
    *,
    affiliate_id: int,
    body: Payment,
    cipher: payment_crypto.PaymentCipher | None,
) -> MaskedPayment:
    """Replace the affiliate's payment details; the masked copy is the answer."""
    details = body.model_dump(exclude_none=True)
    sealed = payment_crypto.require(cipher).encrypt(affiliate_id, details)
    shown = payment_crypto.masked(details)
    if await conn.fetchval(queries.SET_PAYMENT, affiliate_id, sealed, shown) is None:
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    return MaskedPayment(**shown)


async def payment_details(
    conn: Executor, *, affiliate_ids: list[int], cipher: payment_crypto.PaymentCipher | None
) -> dict[int, dict[str, object]]:
    """The plain payment details of these affiliates (those that have some), for a payout
    export: the one reader of the ciphertext."""
    rows = await conn.fetch(queries.PAYMENT_DETAILS, affiliate_ids)
    if not rows:
        return {}
    key = payment_crypto.require(cipher)
    return {int(r["id"]): key.decrypt(int(r["id"]), bytes(r["payment_encrypted"])) for r in rows}
