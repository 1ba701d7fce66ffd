"""Who sees what in the portal: an owner everything, a manager the affiliates assigned to
them (affiliates.manager_id is the manager's identity key), an affiliate user their own
affiliate, by the same Principal the API uses."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts import users as account_users
from app.accounts.sessions import SessionUser
from app.db import Pool
from app.keys.service import Principal


@dataclass(frozen=True, slots=True)
class Scope:
    principal: Principal
    # None: every affiliate; else the only ones this user may see (maybe none).
    affiliates: list[int] | None

    def allows(self, affiliate_id: int | None) -> bool:
        if self.affiliates is None:
            return True
        return affiliate_id is not None and affiliate_id in self.affiliates


async def staff_scope(pool: Pool, user: SessionUser) -> Scope:
    principal = Principal(role="admin", key_id=user.key_id)
    if user.role == "owner" or user.key_id is None:
        return Scope(principal, None)
    return Scope(principal, await account_users.managed_affiliates(pool, key_id=user.key_id))
