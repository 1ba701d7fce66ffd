"""Principal: which affiliates a list is limited to, and how an admin's change is signed."""

from __future__ import annotations

import pytest

from app.errors import Forbidden
from app.keys.service import Principal

ADMIN = Principal(role="admin", key_id=7)
CONFIGURED_ADMIN = Principal(role="admin")
AFFILIATE = Principal(role="affiliate", affiliate_id=3, key_id=9)


def test_an_admin_lists_what_it_asks_for() -> None:
    assert ADMIN.scope(None) is None
    assert ADMIN.scope(5) == [5]


def test_an_affiliate_key_lists_its_own_and_may_not_ask_for_another() -> None:
    assert AFFILIATE.scope(None) == [3]
    assert AFFILIATE.scope(3) == [3]
    with pytest.raises(Forbidden):
        AFFILIATE.scope(4)


def test_an_admin_change_names_the_key_or_the_configured_admin() -> None:
    assert ADMIN.admin_actor == "admin:7"
    assert CONFIGURED_ADMIN.admin_actor == "admin"


def test_a_manager_lists_all_their_affiliates_or_one_of_them() -> None:
    manager = Principal(role="admin", key_id=8, managed=(3, 5))
    assert manager.scope(None) == [3, 5]
    assert manager.scope(5) == [5]
    assert Principal(role="admin", key_id=8, managed=()).scope(None) == []
