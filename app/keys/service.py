from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from app.catalog import affiliates as affiliate_service
from app.db import Executor, Pool
from app.errors import BadRequest, Conflict, Forbidden, Unauthorized, found
from app.keys import queries
from app.keys.schemas import CreatedKey, KeyOut, Role
from app.pagination import Page, PageParams

KEY_PREFIX = "trk_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin, or one affiliate."""

    role: Role
    affiliate_id: int | None = None
    key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def admin_actor(self) -> str:
        """An admin as a change records it: `admin:<key ID>`, or `admin` for the configured key."""
        return f"admin:{self.key_id}" if self.key_id else "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this needs an admin key")

    def require_affiliate_access(self, affiliate_id: int) -> None:
        if not self.is_admin and self.affiliate_id != affiliate_id:
            raise Forbidden("this key may not see another affiliate's data")

    def scope(self, affiliate_id: int | None) -> int | None:
        """The affiliate a list is limited to: the one asked for (or none) for an admin key,
        its own for an affiliate key; asking for another affiliate is 403."""
        if affiliate_id is not None:
            self.require_affiliate_access(affiliate_id)
        return affiliate_id if self.is_admin else self.affiliate_id


def hash_key(plain: str) -> bytes:
    return hashlib.sha256(plain.encode()).digest()


def new_plain_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def create_key(
    conn: Executor,
    *,
    role: Role,
    affiliate_id: int | None,
    name: str | None,
) -> CreatedKey:
    """Store a new key's hash; the plain key is in this answer only."""
    if role == "affiliate":
        if affiliate_id is None:
            raise BadRequest("an affiliate key needs affiliate_id", code="invalid_request")
        if await affiliate_service.affiliate_status(conn, affiliate_id=affiliate_id) is None:
            raise Conflict(f"affiliate {affiliate_id} does not exist", code="invalid_reference")
    elif affiliate_id is not None:
        raise BadRequest("an admin key has no affiliate_id", code="invalid_request")
    plain = new_plain_key()
    row = await conn.fetchrow(
        queries.INSERT_KEY, hash_key(plain), plain[: len(KEY_PREFIX) + 6], name, role, affiliate_id
    )
    assert row is not None
    return CreatedKey(key=plain, **dict(row))


async def list_keys(conn: Executor, *, page: PageParams) -> Page[KeyOut]:
    rows = await conn.fetch(queries.LIST_KEYS, page.after, page.limit)
    return page.of([KeyOut(**dict(r)) for r in rows], rows)


async def revoke_key(conn: Executor, *, key_id: int) -> KeyOut:
    """Revoke at once; revoking a revoked key keeps its first revocation time."""
    row = found(await conn.fetchrow(queries.REVOKE_KEY, key_id), "key", key_id)
    return KeyOut(**dict(row))


async def authenticate(
    pool: Pool, *, authorization: str | None, admin_key: str | None
) -> Principal:
    """Resolve an `Authorization: Bearer <key>` header to a Principal, or raise 401 (no,
    unknown or revoked key) or 403 (a key of an affiliate whose status is not active)."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <key> header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <key>'")
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return Principal(role="admin")
    row = await pool.fetchrow(queries.FIND_UNREVOKED_KEY, hash_key(token))
    if row is None:
        raise Unauthorized("unknown or revoked API key")
    if row["role"] == "affiliate" and row["affiliate_status"] != "active":
        # The key is genuine, its affiliate may not act now: 403, and it works again as
        # soon as the affiliate is active again.
        raise Forbidden(
            f"affiliate {row['affiliate_id']} is {row['affiliate_status']}: its keys are "
            "refused until it is active again",
            code="affiliate_inactive",
        )
    return Principal(role=row["role"], affiliate_id=row["affiliate_id"], key_id=row["id"])
