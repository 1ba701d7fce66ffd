"""Password hashes: argon2id, checked in constant work, and the strength rules."""

from __future__ import annotations

import pytest

from app.accounts import passwords


async def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first = await passwords.hash_password("a long enough passphrase")
    second = await passwords.hash_password("a long enough passphrase")

    assert first.startswith("$argon2id$")
    assert first != second  # a salt of its own
    assert await passwords.verify(first, "a long enough passphrase")
    assert not await passwords.verify(first, "a long enough passphrasE")
    assert not passwords.needs_rehash(first)


async def test_no_stored_hash_never_matches_even_the_dummy_s_password() -> None:
    assert not await passwords.verify(None, "not the password of anyone")
    assert not await passwords.verify("not a hash", "anything at all")


async def test_an_overlong_password_is_refused_without_hashing() -> None:
    stored = await passwords.hash_password("x" * passwords.MAX_LENGTH)
    assert await passwords.verify(stored, "x" * passwords.MAX_LENGTH)
    assert not await passwords.verify(stored, "x" * (passwords.MAX_LENGTH + 1))


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 10"),
        ("y" * 257, "at most 256"),
        ("Ann@Example.com", "e-mail address"),
    ],
)
def test_weak_passwords_are_refused(password: str, problem: str) -> None:
    with pytest.raises(passwords.WeakPassword, match=problem):
        passwords.check_strength(password, email="ann@example.com")
