"""E-mail for the rest of the app: write a mail to the outbox in the caller's transaction.

Nothing here talks SMTP: the sender (`tracker sender`, app/mail/mailer.py) sends the rows
later, with retries, so a request never waits on a mail server and a rolled-back change
sends nothing.

Kinds (app/mail/templates.py renders each):
- to an affiliate, always: `application_received`, `approved`, `rejected`,
  `group_changed` (`from_name`, `to_name`), `payout_paid` (`amount`, `currency`,
  optional `reference`; the payouts feature calls `notify(conn, "payout_paid", ...)`);
- to an affiliate on its `offer_changes` list: `offer_paused`, `offer_capped`
  (`offer_id`, `offer_name`, `metric`, `period`); on its `digest` list: `digest`;
  announcements go through app/mail/announcements.py;
- to a portal user (app/accounts), always: `user_invite`, `password_reset` (`path`,
  `expires_at`);
- to the program owner (OWNER_EMAIL): `new_application`, `webhook_disabled`
  (`webhook_id`, `url`, `reason`; the webhooks feature calls `notify_owner(conn,
  "webhook_disabled", {...})`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import Executor
from app.mail import queries
from app.mail.templates import AFFILIATE_KINDS, LISTS, OWNER_KINDS, TRANSACTIONAL, USER_KINDS

__all__ = [
    "AFFILIATE_KINDS",
    "OWNER_KINDS",
    "USER_KINDS",
    "notify",
    "notify_offer",
    "notify_owner",
    "notify_user",
]


def _json(data: Mapping[str, Any] | None) -> dict[str, Any]:
    # As JSON keeps it (Decimals and dates as text); the pool's codec encodes the dict.
    value: dict[str, Any] = orjson.loads(orjson.dumps(dict(data or {}), default=str))
    return value


async def notify(
    conn: Executor,
    kind: str,
    affiliate_id: int,
    data: Mapping[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
) -> int | None:
    """Mail `kind` to an affiliate; the outbox row's ID, or None when nothing is due
    (no address, not on the kind's list, or `dedupe_key` already used)."""
    if kind not in AFFILIATE_KINDS or kind == "announcement":
        raise ValueError(f"not a kind of mail to an affiliate: {kind}")
    column = None if kind in TRANSACTIONAL else LISTS[kind]
    mail_id: int | None = await conn.fetchval(
        queries.ENQUEUE_AFFILIATE, kind, affiliate_id, _json(data), dedupe_key, column
    )
    return mail_id


async def notify_owner(
    conn: Executor,
    kind: str,
    data: Mapping[str, Any] | None = None,
    *,
    dedupe_key: str | None = None,
) -> int | None:
    """Mail `kind` to the program owner (sent to OWNER_EMAIL; skipped while it is unset)."""
    if kind not in OWNER_KINDS:
        raise ValueError(f"not a kind of mail to the owner: {kind}")
    mail_id: int | None = await conn.fetchval(queries.ENQUEUE_OWNER, kind, _json(data), dedupe_key)
    return mail_id


async def notify_user(
    conn: Executor, kind: str, user_id: int, data: Mapping[str, Any] | None = None
) -> int:
    """Mail `kind` (user_invite, password_reset) to a portal user (app/accounts)."""
    if kind not in USER_KINDS:
        raise ValueError(f"not a kind of mail to a user: {kind}")
    mail_id: int | None = await conn.fetchval(queries.ENQUEUE_USER, kind, user_id, _json(data))
    if mail_id is None:
        raise LookupError(f"user {user_id} does not exist")
    return mail_id


async def notify_offer(conn: Executor, kind: str, offer_id: int, data: Mapping[str, Any]) -> None:
    """Mail `kind` (offer_paused) to every active affiliate with a link on the offer
    that is on its offer_changes list."""
    await conn.execute(queries.ENQUEUE_OFFER_AFFILIATES, kind, offer_id, _json(data), None)


def _period_key(period: str, at: datetime) -> str:
    day = at.astimezone(UTC)
    return day.strftime("%Y-%m") if period == "month" else day.strftime("%Y-%m-%d")


async def notify_capped(
    conn: Executor, *, metric: str, refused: Iterable[tuple[int, int]], at: datetime
) -> None:
    """`offer_capped` to each affiliate whose click or conversion a cap of `metric`
    refused, once per (offer, affiliate, metric) and period: the day when the offer has
    a day cap of that metric, else the month (the refusal does not say which cap it
    was). `refused`: (offer_id, affiliate_id) pairs; called where the refusals are
    stored, so a repeat costs one insert that does nothing."""
    pairs = sorted(set(refused))
    if not pairs:
        return
    offers = sorted({o for o, _ in pairs})
    names = {r["id"]: r["name"] for r in await conn.fetch(queries.OFFER_NAMES, offers)}
    periods = {
        r["offer_id"]: "day" if r["has_day"] else "month"
        for r in await conn.fetch(queries.CAP_PERIODS, offers)
        if r["metric"] == metric
    }
    for offer_id, affiliate_id in pairs:
        period = periods.get(offer_id, "day")
        key = f"offer_capped:{offer_id}:{affiliate_id}:{metric}:{_period_key(period, at)}"
        data = {
            "offer_id": offer_id,
            "offer_name": names.get(offer_id),
            "metric": metric,
            "period": period,
        }
        await notify(conn, "offer_capped", affiliate_id, data, dedupe_key=key)


async def group_names(conn: Executor, group_ids: Sequence[int]) -> dict[int, str]:
    if not group_ids:
        return {}
    return {r["id"]: r["name"] for r in await conn.fetch(queries.GROUP_NAMES, list(group_ids))}
