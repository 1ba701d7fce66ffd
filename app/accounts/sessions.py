"""Signing in and out: sessions stored server-side (only a hash of the cookie's token),
each with its CSRF token; single-use links that set a password.

A session stands for its user in the API too (`principal`): an owner as an admin key,
an affiliate user as its affiliate's key, a manager as their identity key limited to the
affiliates assigned to them (`Principal.managed`), as the portal scopes them.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from redis.asyncio import Redis

from app.accounts import limits, passwords, queries, users
from app.accounts.schemas import UserRole
from app.db import Pool
from app.errors import AppError, Forbidden, Unauthorized
from app.keys import service as keys_service
from app.keys.service import Principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_COOKIE = "tracker_session"


class SignInRefused(AppError, status=401, code="sign_in_refused"): ...


class CsrfRefused(Forbidden, code="csrf_refused"): ...


@dataclass(frozen=True, slots=True)
class SessionUser:
    session_id: int
    csrf_token: str
    id: int
    email: str
    name: str | None
    role: UserRole
    affiliate_id: int | None
    key_id: int | None
    time_zone: str
    locale: str
    affiliate_status: str | None
    affiliate_name: str | None

    @property
    def actor(self) -> str:
        """The user as change records name them: as their identity key, or their affiliate."""
        if self.key_id is not None:
            return f"admin:{self.key_id}"
        return f"affiliate:{self.affiliate_id}"

    @property
    def is_staff(self) -> bool:
        return self.role in ("owner", "manager")

    def principal(self) -> Principal:
        """What an owner or affiliate user may do through the API, as the equivalent key
        (a manager's needs their affiliates: `staff_principal`)."""
        if self.role == "owner":
            return Principal(role="admin", key_id=self.key_id)
        if self.role == "affiliate" and self.affiliate_id is not None:
            if self.affiliate_status != "active":
                raise Forbidden(
                    f"affiliate {self.affiliate_id} is {self.affiliate_status}: its users "
                    "are refused until it is active again",
                    code="affiliate_inactive",
                )
            return Principal(role="affiliate", affiliate_id=self.affiliate_id)
        raise Forbidden("a manager's scope is read with staff_principal", code="manager_session")


async def staff_principal(pool: Pool, user: SessionUser) -> Principal:
    """An owner's or a manager's principal: a manager's names the affiliates assigned to
    them now (read on each request, so an assignment counts at once)."""
    if user.role == "owner":
        return Principal(role="admin", key_id=user.key_id)
    if user.key_id is None:  # the users table forbids it; were it so, they manage no one
        return Principal(role="admin", key_id=None, managed=())
    managed = await users.managed_affiliates(pool, key_id=user.key_id)
    return Principal(role="admin", key_id=user.key_id, managed=tuple(managed))


def _hash(token: str) -> bytes:
    return keys_service.hash_key(token)


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


async def sign_in(
    pool: Pool,
    redis: Redis,
    rules: limits.SignInLimits,
    *,
    email: str,
    password: str,
    ip: str,
) -> int:
    """The user ID for a right address and password; SignInLocked past the limits,
    SignInRefused (wrong address or password, one message for both) or Forbidden."""
    await limits.check(redis, rules, email=email, ip=ip)
    row = await pool.fetchrow(queries.FIND_FOR_SIGN_IN, email.strip()) if email else None
    stored = row["password_hash"] if row is not None else None
    if not await passwords.verify(stored, password) or row is None or row["disabled"]:
        await limits.failed(redis, rules, email=email, ip=ip)
        raise SignInRefused("The e-mail address or the password is wrong.")
    await limits.succeeded(redis, email=email, ip=ip)
    if row["role"] == "affiliate" and row["affiliate_status"] != "active":
        raise Forbidden(
            f"Your affiliate account is {row['affiliate_status']}: you can sign in once "
            "it is active.",
            code="affiliate_inactive",
        )
    if passwords.needs_rehash(stored or ""):
        await pool.execute(
            queries.SET_PASSWORD, row["id"], await passwords.hash_password(password), "rehash"
        )
    return int(row["id"])


async def start(
    pool: Pool,
    *,
    user_id: int,
    ip: str | None,
    user_agent: str | None,
    lifetime: timedelta,
) -> str:
    """A new session; its token (the cookie's value) is in this answer only."""
    token = secrets.token_urlsafe(32)
    await pool.execute(queries.DELETE_EXPIRED_SESSIONS, user_id)
    await pool.execute(
        queries.INSERT_SESSION,
        _hash(token),
        user_id,
        secrets.token_urlsafe(32),
        ip,
        (user_agent or "")[:300] or None,
        lifetime,
    )
    return token


async def find(pool: Pool, token: str | None) -> SessionUser | None:
    """The live session of a cookie's token, with its user (None: none, expired, or the
    user disabled)."""
    if not token or len(token) > 100:
        return None
    row = await pool.fetchrow(queries.FIND_SESSION, _hash(token))
    return SessionUser(**dict(row)) if row is not None else None


async def end(pool: Pool, token: str | None) -> None:
    if token:
        await pool.execute(queries.DELETE_SESSION, _hash(token))


async def end_all(pool: Pool, *, user_id: int) -> int:
    """Sign a user out everywhere; how many sessions ended."""
    status: str = await pool.execute(queries.DELETE_USER_SESSIONS, user_id)
    return int(status.rsplit(" ", 1)[-1])


async def erase_address(pool: Pool, same: Callable[[str], bool]) -> int:
    """Clears the address and user agent of the sessions signed in from an address
    `same` says is the one erased (the column is the client's text, compared in its
    normal form by the caller); how many sessions it changed."""
    rows = await pool.fetch(queries.SESSION_ADDRESSES)
    ids = [row["id"] for row in rows if same(row["ip"])]
    if not ids:
        return 0
    status = await pool.execute(queries.CLEAR_SESSION_CLIENTS, ids)
    return int(status.rsplit(" ", 1)[-1])


async def link_email(pool: Pool, *, token: str, purpose: str) -> str | None:
    """The address a working link is for (its form is shown), or None."""
    if len(token) > 100:
        return None
    email: str | None = await pool.fetchval(queries.PEEK_TOKEN, _hash(token), purpose)
    return email


async def set_password_by_link(pool: Pool, *, token: str, purpose: str, password: str) -> int:
    """Use a link once: set the password, end the user's sessions; the user ID.

    A weak password leaves the link unused (the transaction rolls back), so the person
    can try again with a better one."""
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(queries.USE_TOKEN, _hash(token), purpose)
        if user_id is None:
            raise Unauthorized("This link has expired or was used already.")
        email = await conn.fetchval(queries.USER_EMAIL, user_id)
        passwords.check_strength(password, email=email)
        hashed = await passwords.hash_password(password)
        await conn.execute(queries.SET_PASSWORD, user_id, hashed, f"user:{user_id}")
        await conn.execute(queries.DELETE_USER_SESSIONS, user_id)
        return int(user_id)


async def api_principal(
    pool: Pool, *, token: str, method: str, csrf_header: str | None
) -> Principal:
    """The API's caller from a session cookie: state-changing requests need the session's
    CSRF token in X-CSRF-Token (a cross-site form cannot set a header)."""
    user = await find(pool, token)
    if user is None:
        raise Unauthorized("missing Authorization: Bearer <key> header, or a signed-in session")
    if method not in SAFE_METHODS and not same_token(csrf_header, user.csrf_token):
        raise CsrfRefused("a request with a session cookie needs its X-CSRF-Token header")
    return await staff_principal(pool, user) if user.is_staff else user.principal()
