"""The demo catalog a fresh development install starts with."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from app.accounts import users as account_users
from app.accounts.schemas import UserIn
from app.catalog import advertisers as advertiser_service
from app.catalog import affiliates as affiliate_service
from app.catalog import links as link_service
from app.catalog import offers as offer_service
from app.catalog.fields import Rule
from app.catalog.schemas import AdvertiserIn, AffiliateIn, LinkIn, OfferIn
from app.coupons import service as coupon_service
from app.coupons.schemas import CouponIn
from app.db import Connection
from app.keys import service as keys_service
from app.partners import groups as group_service
from app.partners import history
from app.partners.groups import GroupIn
from app.settings import Settings

DEMO_ADVERTISER = "Demo Advertiser"
DEMO_KEY_FILE = "demo-admin-key"
DEMO_SIGN_INS_FILE = "demo-sign-ins"
DEMO_OWNER = "owner@demo.example.com"
DEMO_AFFILIATE = "alice@demo.example.com"


@dataclass
class DemoInfo:
    tracking_urls: list[str]
    postback_url: str
    admin_key: str | None
    docs_url: str
    dashboard_url: str
    created: bool
    # (role, e-mail, password) of the demo's portal users, when this run knows them
    sign_ins: list[tuple[str, str, str]] = field(default_factory=list)


async def seed_demo(conn: Connection, settings: Settings) -> DemoInfo:
    """Create the demo catalog once (kept if it exists) and describe it."""
    created = False
    async with conn.transaction():
        # Serialises concurrent seeders so the demo is made once.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('tracker-seed'))")
        advertiser = await advertiser_service.first_named(
            conn, name=DEMO_ADVERTISER, public_url=settings.public_url
        )
        if advertiser is None:
            created = True
            advertiser = await advertiser_service.create_advertiser(
                conn, body=AdvertiserIn(name=DEMO_ADVERTISER), public_url=settings.public_url
            )
            offer = await offer_service.create_offer(
                conn,
                body=OfferIn(
                    advertiser_id=advertiser.id,
                    name="Demo Offer",
                    url="https://example.com/landing?click_id={click_id}&aff={affiliate_id}"
                    "&s1={sub1}",
                    fallback_url="https://example.com/",
                    revenue=Rule(type="fixed", value=Decimal("4.00")),
                    payout=Rule(type="fixed", value=Decimal("2.50")),
                ),
            )
            # A demo commission group: 3.00 a sale for 10 approved conversions in 30 days.
            await group_service.create_group(
                conn,
                body=GroupIn.model_validate(
                    {
                        "name": "Demo Silver",
                        "rank": 1,
                        "default": {"type": "fixed", "value": "3.00"},
                        "promotion": {
                            "metric": "approved_conversions",
                            "window_days": 30,
                            "min": "10",
                            "demote": True,
                        },
                    }
                ),
            )
            for name in ("Alice Media", "Bob Traffic"):
                affiliate = await affiliate_service.create_affiliate(
                    conn, body=AffiliateIn(name=name), actor=history.SYSTEM
                )
                await link_service.create_link(
                    conn,
                    body=LinkIn(affiliate_id=affiliate.id, offer_id=offer.id),
                    public_url=settings.public_url,
                )
            # A postback with coupon=DEMO10 (and a txid) credits the last affiliate.
            await coupon_service.create_coupon(
                conn,
                body=CouponIn(code="DEMO10", affiliate_id=affiliate.id, offer_id=offer.id),
            )
        codes = await conn.fetch(
            """SELECT l.code FROM links l JOIN offers o ON o.id = l.offer_id
               WHERE o.advertiser_id = $1 ORDER BY l.id""",
            advertiser.id,
        )
    admin_key = await _demo_admin_key(conn, settings, create=created)
    sign_ins = await _demo_users(conn, settings, advertiser_id=advertiser.id)
    return DemoInfo(
        tracking_urls=[f"{settings.public_url}/c/{r['code']}?sub1=demo" for r in codes],
        postback_url=advertiser.postback_url,
        admin_key=admin_key,
        docs_url=f"{settings.public_url}/docs",
        dashboard_url=f"{settings.public_url}/dashboard",
        created=created,
        sign_ins=sign_ins,
    )


async def _demo_users(
    conn: Connection, settings: Settings, *, advertiser_id: int
) -> list[tuple[str, str, str]]:
    """A demo owner and a user of the first demo affiliate, made once; their passwords
    (random) are kept in the data folder like the demo key, to be shown at each start."""
    path = settings.tracker_data_dir / DEMO_SIGN_INS_FILE
    if await account_users.find_by_email(conn, email=DEMO_OWNER) is not None:
        saved = _read_key(path)
        return [tuple(line.split(" ", 2)) for line in (saved or "").splitlines()]  # type: ignore[misc]
    first = await conn.fetchval(
        """SELECT l.affiliate_id FROM links l JOIN offers o ON o.id = l.offer_id
           WHERE o.advertiser_id = $1 ORDER BY l.id LIMIT 1""",
        advertiser_id,
    )
    wanted = [UserIn(email=DEMO_OWNER, name="Demo Owner", role="owner")]
    if first is not None:
        wanted.append(
            UserIn(email=DEMO_AFFILIATE, name="Alice", role="affiliate", affiliate_id=first)
        )
    made: list[tuple[str, str, str]] = []
    async with conn.transaction():
        for body in wanted:
            user = await account_users.create_user(conn, body=body, actor="seed")
            password = secrets.token_urlsafe(12)
            await account_users.set_password(conn, user_id=user.id, password=password, actor="seed")
            made.append((body.role, body.email, password))
    _write_key(path, "\n".join(" ".join(m) for m in made))
    return made


async def _demo_admin_key(conn: Connection, settings: Settings, *, create: bool) -> str | None:
    """ADMIN_API_KEY if set; else a stored key whose plain text the data folder keeps.

    Only the hash is in the database, so the plain demo key is written (mode 0600) next
    to the data it unlocks, to be shown again at the next start.
    """
    if settings.admin_api_key:
        return settings.admin_api_key.get_secret_value()
    path = settings.tracker_data_dir / DEMO_KEY_FILE
    if not create and (saved := _read_key(path)):
        return saved
    plain = (await keys_service.create_key(conn, role="admin", affiliate_id=None, name="demo")).key
    _write_key(path, plain)
    return plain


def _read_key(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_key(path: Path, plain: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(plain + "\n")


def banner(info: DemoInfo, *, extra: Sequence[str] = ()) -> str:
    """What `tracker seed` and `tracker dev` print; `extra`: more lines before the last."""
    lines = [
        "",
        "Tracker is running.",
        "  Tracking links:",
        *[f"    {url}" for url in info.tracking_urls],
        f"  Advertiser postback URL:\n    {info.postback_url}",
        f"  Admin API key:  {info.admin_key or '(set ADMIN_API_KEY)'}",
        f"  API docs:       {info.docs_url}",
        f"  Dashboard:      {info.dashboard_url} (paste the admin key)",
        *(
            [f"  Portal:         {info.docs_url.removesuffix('/docs')}/ (sign in as:)"]
            + [f"    {role:<9} {email}  password {pw}" for role, email, pw in info.sign_ins]
            if info.sign_ins
            else []
        ),
        *extra,
        "  Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)
