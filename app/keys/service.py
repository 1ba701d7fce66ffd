from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from app.catalog import affiliates as affiliate_service
from app.db import Executor, Pool
from app.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, found
from app.keys import queries
from app.keys.schemas import CreatedKey, KeyOut, Role
from app.pagination import Page, PageParams

KEY_PREFIX = "trk_"
# A key's use is recorded at most this often, so authenticating seldom writes.
USE_RECORDED_EVERY = timedelta(seconds=60)


class OwnerOnly(Forbidden, code="owner_only"): ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an admin, a manager (an owner's powers over some affiliates only), or
    one affiliate.

    A manager is a signed-in manager's session (its identity key, role admin) with the
    affiliates assigned to it in `managed`. This is the one owner of the manager's rule,
    for the API and the portal alike: they see those affiliates' records, act on them,
    and see nothing of the others (another's affiliate reads as one that does not exist).
    """

    role: Role
    affiliate_id: int | None = None
    key_id: int | None = None
    # A manager's affiliates (maybe none); None for every other caller.
    managed: tuple[int, ...] | None = None

    @property
    def is_admin(self) -> bool:
        """The network's side of the data (revenue, every field), an owner's or a manager's."""
        return self.role == "admin"

    @property
    def is_manager(self) -> bool:
        return self.managed is not None

    @property
    def is_owner(self) -> bool:
        """Everything, every affiliate: an admin key, or an owner's session."""
        return self.is_admin and self.managed is None

    @property
    def only_affiliate_id(self) -> int | None:
        """The affiliate whose data alone this key sees; None for an admin key (all)."""
        return None if self.is_admin else self.affiliate_id

    @property
    def admin_actor(self) -> str:
        """An admin as a change records it: `admin:<key ID>`, or `admin` for the configured key."""
        return f"admin:{self.key_id}" if self.key_id else "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this needs an admin key")
        if self.managed is not None:
            raise OwnerOnly(
                "this is the owners' (or an admin key's): a manager acts on the affiliates "
                "assigned to them only"
            )

    def allows(self, affiliate_id: int | None) -> bool:
        """Whether this caller may see the affiliate's records."""
        if self.managed is not None:
            return affiliate_id is not None and affiliate_id in self.managed
        return self.is_admin or affiliate_id == self.affiliate_id

    def require_affiliate_access(self, affiliate_id: int | None) -> None:
        """Refuse another affiliate's records: 403 for an affiliate key (it knows it is one),
        404 for a manager (nothing said of an affiliate not theirs)."""
        if self.allows(affiliate_id):
            return
        if self.managed is not None:
            raise NotFound(f"affiliate {affiliate_id} does not exist")
        raise Forbidden("this key may not see another affiliate's data")

    def require_record(self, affiliate_id: int | None, what: str, key: object) -> None:
        """Refuse a record (found by its ID) of an affiliate not the caller's: to a manager
        as if there were no such record (`<what> <key> does not exist`, naming no affiliate),
        to an affiliate key as another's (403)."""
        if self.managed is not None and not self.allows(affiliate_id):
            raise NotFound(f"{what} {key} does not exist")
        self.require_affiliate_access(affiliate_id)

    def scope(self, affiliate_id: int | None) -> list[int] | None:
        """The affiliates a list is limited to (`affiliate_id = ANY(...)`; None: no limit):
        the one asked for (or none) for an admin key, its own for an affiliate key, the one
        asked for or else all of theirs for a manager (none at all, matching nothing, when
        they have none); asking for another affiliate is 403, or 404 for a manager."""
        if affiliate_id is not None:
            self.require_affiliate_access(affiliate_id)
            return [affiliate_id]
        if self.managed is not None:
            return list(self.managed)
        return None if self.is_admin else [self.affiliate_id or 0]

    def managed_filter(self, asked: list[int]) -> list[int]:
        """A manager's filter on several affiliates (a report's): those asked for, each
        theirs (else 404), or else all of theirs (none: an empty filter, matching nothing)."""
        assert self.managed is not None
        for affiliate_id in asked:
            self.require_affiliate_access(affiliate_id)
        return list(asked) or list(self.managed)

    def among(self, affiliate_id: int | None = None) -> list[int] | None:
        """The affiliates a list that takes several may show: a manager's (or the one asked
        for, if theirs), None for everyone else (their own filters apply)."""
        if self.managed is None:
            return None
        if affiliate_id is not None:
            self.require_affiliate_access(affiliate_id)
            return [affiliate_id]
        return list(self.managed)


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
    rows = await conn.fetch(*queries.LIST_KEYS.bind(page.after, page.limit))
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
    row = await pool.fetchrow(queries.FIND_UNREVOKED_KEY, hash_key(token), USE_RECORDED_EVERY)
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
    if row["use_unrecorded"]:
        await pool.execute(queries.RECORD_USE, row["id"], USE_RECORDED_EVERY)
    return Principal(role=row["role"], affiliate_id=row["affiliate_id"], key_id=row["id"])
