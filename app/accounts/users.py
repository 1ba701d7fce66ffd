"""Users: made (with an identity key for owners and managers), read, changed, invited."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from app import locales
from app.accounts import passwords, queries
from app.accounts.schemas import InviteOut, UserIn, UserOut, UserPatch
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, NotFound
from app.keys import service as keys_service
from app.mail import service as mail_service
from app.pagination import Page, after_id, next_cursor
from app.stats import zones

INVITE_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(hours=1)


def _out(row: object) -> UserOut:
    return UserOut.model_validate(dict(row))  # type: ignore[call-overload]


async def create_user(conn: Connection, *, body: UserIn, actor: str) -> UserOut:
    """A user without a password: the invite link (mailed by `invite`) sets it."""
    async with conn.transaction():
        if await conn.fetchval(queries.EMAIL_TAKEN, body.email):
            raise Conflict(f"a user with e-mail {body.email} exists", code="email_taken")
        key_id = None
        if body.role == "affiliate":
            if not await conn.fetchval(queries.AFFILIATE_EXISTS, body.affiliate_id):
                raise Conflict(
                    f"affiliate {body.affiliate_id} does not exist", code="invalid_reference"
                )
        else:
            key = await keys_service.create_key(
                conn, role="admin", affiliate_id=None, name=f"user {body.email}"[:200]
            )
            await keys_service.revoke_key(conn, key_id=key.id)
            key_id = key.id
        row = await conn.fetchrow(
            queries.INSERT_USER, body.email, body.name, body.role, body.affiliate_id, key_id, actor
        )
        return _out(row)


async def get_user(conn: Executor, *, user_id: int) -> UserOut:
    row = await conn.fetchrow(queries.GET_USER, user_id)
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _out(row)


async def create_and_invite(conn: Connection, *, body: UserIn, actor: str) -> UserOut:
    """A user and their invite link, mailed, in one transaction (neither without the other)."""
    async with conn.transaction():
        user = await create_user(conn, body=body, actor=actor)
        await invite(conn, user_id=user.id)
        return user


async def list_users(conn: Executor, *, cursor: str | None, limit: int) -> Page[UserOut]:
    rows = await conn.fetch(queries.LIST_USERS, after_id(cursor), limit)
    return Page[UserOut](items=[_out(r) for r in rows], next_cursor=next_cursor(rows, limit))


async def update_user(conn: Connection, *, user_id: int, body: UserPatch, actor: str) -> UserOut:
    async with conn.transaction():
        current = await get_user(conn, user_id=user_id)
        fields = body.model_dump(exclude_unset=True)
        zone = fields.get("time_zone") or current.time_zone
        zones.zone(zone)  # an unknown zone is a 400, as in the stats API
        locale = fields.get("locale") or current.locale
        if not locales.known(locale):
            raise BadRequest(f"unknown locale {locale!r}: a CLDR locale such as en_US or de_DE")
        disabled = fields["disabled"] if fields.get("disabled") is not None else current.disabled
        name = fields.get("name", current.name)
        row = await conn.fetchrow(queries.UPDATE_USER, user_id, name, zone, disabled, actor, locale)
        if disabled:
            await conn.execute(queries.DELETE_USER_SESSIONS, user_id)
        return _out(row)


async def set_password(conn: Executor, *, user_id: int, password: str, actor: str) -> None:
    """Set a password directly (the demo's users; everyone else sets theirs by a link)."""
    user = await get_user(conn, user_id=user_id)
    passwords.check_strength(password, email=user.email)
    await conn.execute(
        queries.SET_PASSWORD, user_id, await passwords.hash_password(password), actor
    )


async def find_by_email(conn: Executor, *, email: str) -> int | None:
    row = await conn.fetchrow(queries.FIND_FOR_SIGN_IN, email)
    return int(row["id"]) if row is not None else None


async def managed_affiliates(conn: Executor, *, key_id: int) -> list[int]:
    return [int(r["id"]) for r in await conn.fetch(queries.MANAGED_AFFILIATES, key_id)]


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def issue_token(
    conn: Executor, *, user_id: int, purpose: str, lifetime: timedelta
) -> tuple[str, datetime]:
    """A new single-use link token (its hash stored); the user's unused ones of the same
    purpose stop working."""
    plain = new_token()
    await conn.execute(queries.DROP_UNUSED_TOKENS, user_id, purpose)
    expires_at: datetime = await conn.fetchval(
        queries.INSERT_TOKEN, keys_service.hash_key(plain), user_id, purpose, lifetime
    )
    return plain, expires_at


async def invite(conn: Connection, *, user_id: int) -> InviteOut:
    """Mail the user a link that sets their password (a new one replaces the last)."""
    async with conn.transaction():
        user = await get_user(conn, user_id=user_id)
        if user.disabled:
            raise Conflict(f"user {user_id} is disabled", code="user_disabled")
        plain, expires_at = await issue_token(
            conn, user_id=user_id, purpose="invite", lifetime=INVITE_LIFETIME
        )
        mail_id = await mail_service.notify_user(
            conn, "user_invite", user_id, _link_data(f"/invite/{plain}", expires_at)
        )
        return InviteOut(user_id=user_id, mail_id=mail_id, expires_at=expires_at)


def _link_data(path: str, expires_at: datetime) -> dict[str, str]:
    # The path only: the mail's template puts PUBLIC_URL in front when it is sent.
    return {"path": path, "expires_at": expires_at.strftime("%Y-%m-%d %H:%M")}


async def invite_affiliate(conn: Connection, *, affiliate_id: int, actor: str) -> int | None:
    """On an affiliate's approval: a user for its e-mail address, invited; None when it
    has no address, already has a user, or the address belongs to another user."""
    contact = await conn.fetchrow(queries.AFFILIATE_CONTACT, affiliate_id)
    if contact is None or not contact["email"]:
        return None
    if await conn.fetchval(queries.AFFILIATE_HAS_USER, affiliate_id):
        return None
    if await conn.fetchval(queries.EMAIL_TAKEN, contact["email"]):
        return None
    try:
        body = UserIn(
            email=contact["email"],
            name=contact["name"],
            role="affiliate",
            affiliate_id=affiliate_id,
        )
    except ValueError:
        return None  # an address the users API would refuse: no account for it
    user = await create_user(conn, body=body, actor=actor)
    await invite(conn, user_id=user.id)
    return user.id


async def request_reset(conn: Connection, *, email: str) -> int | None:
    """Mail a reset link to the user with this address, if there is one (the caller
    answers the same either way, so no one learns which addresses have accounts)."""
    async with conn.transaction():
        row = await conn.fetchrow(queries.FIND_FOR_SIGN_IN, email)
        if row is None or row["disabled"]:
            return None
        plain, expires_at = await issue_token(
            conn, user_id=row["id"], purpose="reset", lifetime=RESET_LIFETIME
        )
        mail_id: int = await mail_service.notify_user(
            conn, "password_reset", row["id"], _link_data(f"/reset/{plain}", expires_at)
        )
        return mail_id


def bad_password(message: str) -> BadRequest:
    return BadRequest(message, code="weak_password")
