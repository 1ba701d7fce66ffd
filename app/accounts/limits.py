"""Sign-in attempts, limited per account and per client address (Redis counters).

Failures are counted in a window; past the limit, sign-in is refused for what is left of
the window, even with the right password, and the person is told when to try again. A
success clears its account's count (not its address's: one address guessing at many
accounts stays limited).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from redis.asyncio import Redis

from app.clicks import record as click_record
from app.errors import AppError


class SignInLocked(AppError, status=429, code="sign_in_locked"):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SignInLimits:
    per_account: int = 5
    per_address: int = 20
    window_s: int = 900


def _keys(email: str, ip: str) -> tuple[str, str]:
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"signin:fail:account:{account}", address_key(ip)


def address_key(ip: str) -> str:
    """The Redis key counting an address's failed sign-ins, by the address's normal form
    (`::FFFF:1.2.3.4` is `::ffff:102:304`): app/privacy erases it by that form."""
    return f"signin:fail:ip:{click_record.ip_text(ip) or ip}"


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def check(redis: Redis, limits: SignInLimits, *, email: str, ip: str) -> None:
    """Raise SignInLocked while the account or the address is over its limit."""
    account_key, ip_key = _keys(email, ip)
    async with redis.pipeline(transaction=False) as pipe:
        for key in (account_key, ip_key):
            pipe.get(key)
            pipe.ttl(key)
        account, account_ttl, address, address_ttl = await pipe.execute()
    if account is not None and int(account) >= limits.per_account:
        wait = max(int(account_ttl), 1)
        raise SignInLocked(
            f"Too many failed sign-ins for this account. It is locked for {_minutes(wait)}; "
            "try again then, or reset your password.",
            wait,
        )
    if address is not None and int(address) >= limits.per_address:
        wait = max(int(address_ttl), 1)
        raise SignInLocked(
            f"Too many failed sign-ins from your network. Try again in {_minutes(wait)}.", wait
        )


async def failed(redis: Redis, limits: SignInLimits, *, email: str, ip: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        for key in _keys(email, ip):
            # The window starts at the first failure (NX), so retrying does not extend it.
            pipe.incr(key)
            pipe.expire(key, limits.window_s, nx=True)
        await pipe.execute()


async def succeeded(redis: Redis, *, email: str, ip: str) -> None:
    await redis.delete(_keys(email, ip)[0])
