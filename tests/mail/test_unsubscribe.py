"""Unsubscribe tokens: they name one affiliate and one list, and only this key's."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail import unsubscribe

KEY = secrets.token_bytes(32)


@given(st.integers(min_value=1, max_value=2**63 - 1), st.sampled_from(unsubscribe.LIST_NAMES))
def test_round_trip(affiliate_id: int, list_name: str) -> None:
    token = unsubscribe.make_token(KEY, affiliate_id=affiliate_id, list_name=list_name)
    assert token.isascii()
    assert "=" not in token
    assert unsubscribe.read_token(KEY, token) == (affiliate_id, list_name)
    assert unsubscribe.read_token(secrets.token_bytes(32), token) is None


@given(st.text(max_size=80))
def test_any_text_is_refused_or_read(token: str) -> None:
    assert unsubscribe.read_token(KEY, token) is None


def test_a_changed_byte_is_refused() -> None:
    token = unsubscribe.make_token(KEY, affiliate_id=7, list_name="digest")
    for i in range(len(token)):
        changed = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        assert unsubscribe.read_token(KEY, changed) is None


def test_unknown_list() -> None:
    with pytest.raises(ValueError, match="x"):
        unsubscribe.make_token(KEY, affiliate_id=1, list_name="x")
