"""Who sees what in the portal: an owner everything, a manager the affiliates assigned to
them (affiliates.manager_id is the manager's identity key), an affiliate user their own
affiliate, by the same Principal the API uses (its `managed`: the one owner of the rule)."""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts import sessions as account_sessions
from app.accounts.sessions import SessionUser
from app.db import Pool
from app.keys.service import Principal


@dataclass(frozen=True, slots=True)
class Scope:
    principal: Principal

    @property
    def affiliates(self) -> list[int] | None:
        """None: every affiliate; else the only ones this user may see (maybe none)."""
        return self.principal.among()

    def allows(self, affiliate_id: int | None) -> bool:
        return self.principal.allows(affiliate_id)

    def require(self, affiliate_id: int) -> None:
        """Refuse (as not found: nothing said of it) an affiliate not in the scope."""
        self.principal.require_affiliate_access(affiliate_id)

    def listed(self, asked: int | None, given: bool) -> int | None:
        """The affiliate a staff list is narrowed to: the one `asked` for (LookupError when
        it is not theirs, or `given` but no ID), else None: all they may see (a manager's
        every affiliate, by `Principal.scope` when the list is fetched)."""
        if given and (asked is None or not self.allows(asked)):
            raise LookupError(asked)
        return asked


async def staff_scope(pool: Pool, user: SessionUser) -> Scope:
    return Scope(await account_sessions.staff_principal(pool, user))
