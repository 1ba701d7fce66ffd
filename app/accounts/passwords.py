"""Password hashes: argon2id (argon2-cffi's defaults, RFC 9106's second recommendation:
64 MiB, 3 passes, 4 lanes), computed in a thread so the event loop keeps serving."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
# Long enough for any passphrase, short enough that hashing one costs what hashing any does.
MAX_LENGTH = 256

_HASHER = PasswordHasher()
# Compared against when no user has the address, so an unknown address takes as long
# to refuse as a wrong password (no telling which addresses have accounts).
_DUMMY = _HASHER.hash("not the password of anyone")


class WeakPassword(ValueError):
    pass


def check_strength(password: str, *, email: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if password.strip().lower() == email.strip().lower():
        raise WeakPassword("a password may not be the e-mail address")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash; None (no user, no password yet) costs
    the same time and is never a match."""
    if len(password) > MAX_LENGTH:
        return False
    matched = await asyncio.to_thread(_verify, stored or _DUMMY, password)
    return matched and stored is not None


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
