"""/api/v1 advertisers, offers, affiliates and links.

Admin keys manage everything; an affiliate key reads its own affiliate and links only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Response

from app.api_params import IdPath, IdQuery
from app.catalog import advertisers as advertiser_service
from app.catalog import affiliates as affiliate_service
from app.catalog import links as link_service
from app.catalog import offers as offer_service
from app.catalog import service as catalog_service
from app.catalog.schemas import (
    AdvertiserIn,
    AdvertiserOut,
    AdvertiserPatch,
    AffiliateIn,
    AffiliateOut,
    AffiliatePatch,
    LinkIn,
    LinkOut,
    LinkPatch,
    OfferIn,
    OfferOut,
    OfferPatch,
)
from app.db import Connection
from app.deps import AdminKey, PoolDep, PublicUrl, RedisDep, ScopedKey, SettingsDep, StaffKey
from app.pagination import (
    Filters,
    Page,
    PageQuery,
)
from app.partners.history import actor_of

router = APIRouter()

NO_CONTENT = Response(status_code=204)
T = TypeVar("T")


class CatalogWrites:
    """Where every catalog write goes through: the redirect and postback caches (of every
    process) hear of each change."""

    def __init__(self, pool: PoolDep, redis: RedisDep) -> None:
        self.pool = pool
        self._redis = redis

    async def announce(self, change: Awaitable[T]) -> T:
        result = await change
        await catalog_service.notify_changed(self._redis)
        return result

    async def on_connection(self, change: Callable[[Connection], Awaitable[T]]) -> T:
        # The services that write several tables in one transaction take a connection.
        async with self.pool.acquire() as conn:
            result = await change(conn)
        await catalog_service.notify_changed(self._redis)
        return result


Writes = Annotated[CatalogWrites, Depends()]


# --- advertisers -------------------------------------------------------------------

advertisers = APIRouter(prefix="/advertisers", tags=["advertisers"])


@advertisers.post("", status_code=201, response_model=AdvertiserOut)
async def create_advertiser(
    body: AdvertiserIn, writes: Writes, public_url: PublicUrl, _: AdminKey
) -> AdvertiserOut:
    return await writes.announce(
        advertiser_service.create_advertiser(writes.pool, body=body, public_url=public_url)
    )


@advertisers.get("", response_model=Page[AdvertiserOut])
async def list_advertisers(
    pool: PoolDep,
    public_url: PublicUrl,
    _: AdminKey,
    page: PageQuery,
    status: Literal["active", "archived"] | None = None,
) -> Page[AdvertiserOut]:
    return await advertiser_service.list_advertisers(
        pool, page=page, status=status, public_url=public_url
    )


@advertisers.get("/{advertiser_id}", response_model=AdvertiserOut)
async def get_advertiser(
    advertiser_id: IdPath, pool: PoolDep, public_url: PublicUrl, _: AdminKey
) -> AdvertiserOut:
    return await advertiser_service.get_advertiser(
        pool, advertiser_id=advertiser_id, public_url=public_url
    )


@advertisers.patch("/{advertiser_id}", response_model=AdvertiserOut)
async def update_advertiser(
    advertiser_id: IdPath,
    body: AdvertiserPatch,
    writes: Writes,
    public_url: PublicUrl,
    _: AdminKey,
) -> AdvertiserOut:
    return await writes.announce(
        advertiser_service.update_advertiser(
            writes.pool, advertiser_id=advertiser_id, body=body, public_url=public_url
        )
    )


@advertisers.post("/{advertiser_id}/rotate-token", response_model=AdvertiserOut)
async def rotate_postback_token(
    advertiser_id: IdPath, writes: Writes, public_url: PublicUrl, _: AdminKey
) -> AdvertiserOut:
    """Issue a new postback token; the old one stops working at once."""
    return await writes.announce(
        advertiser_service.rotate_postback_token(
            writes.pool, advertiser_id=advertiser_id, public_url=public_url
        )
    )


@advertisers.delete("/{advertiser_id}", status_code=204)
async def delete_advertiser(advertiser_id: IdPath, writes: Writes, _: AdminKey) -> Response:
    """Delete, or archive when the advertiser has offers or conversions."""
    await writes.on_connection(
        lambda conn: advertiser_service.delete_advertiser(conn, advertiser_id=advertiser_id)
    )
    return NO_CONTENT


# --- offers ------------------------------------------------------------------------

offers = APIRouter(prefix="/offers", tags=["offers"])


@offers.post("", status_code=201, response_model=OfferOut)
async def create_offer(body: OfferIn, writes: Writes, _: AdminKey) -> OfferOut:
    return await writes.on_connection(lambda conn: offer_service.create_offer(conn, body=body))


@offers.get("", response_model=Page[OfferOut])
async def list_offers(
    pool: PoolDep, caller: StaffKey, query: Filters[offer_service.OfferQuery]
) -> Page[OfferOut]:
    """Every offer; a manager's session sees them without other affiliates' payout
    overrides and caps."""
    listed = await offer_service.list_offers(pool, query=query)
    return listed.model_copy(
        update={"items": [offer_service.seen_by(o, caller) for o in listed.items]}
    )


@offers.get("/{offer_id}", response_model=OfferOut)
async def get_offer(offer_id: IdPath, pool: PoolDep, caller: StaffKey) -> OfferOut:
    return offer_service.seen_by(await offer_service.get_offer(pool, offer_id=offer_id), caller)


@offers.patch("/{offer_id}", response_model=OfferOut)
async def update_offer(offer_id: IdPath, body: OfferPatch, writes: Writes, _: AdminKey) -> OfferOut:
    """Change the fields given; a list given (goals, payout_overrides, caps) replaces the old."""
    return await writes.on_connection(
        lambda conn: offer_service.update_offer(conn, offer_id=offer_id, body=body)
    )


@offers.delete("/{offer_id}", status_code=204)
async def delete_offer(offer_id: IdPath, writes: Writes, _: AdminKey) -> Response:
    """Delete, or archive when links point at the offer (they then go to its fallback)."""
    await writes.on_connection(lambda conn: offer_service.delete_offer(conn, offer_id=offer_id))
    return NO_CONTENT


# --- affiliates --------------------------------------------------------------------

affiliates = APIRouter(prefix="/affiliates", tags=["affiliates"])


AffiliateStatus = Literal["applied", "active", "rejected", "suspended", "archived", "paused"]


@affiliates.post("", status_code=201, response_model=AffiliateOut)
async def create_affiliate(
    body: AffiliateIn, pool: PoolDep, settings: SettingsDep, caller: AdminKey
) -> AffiliateOut:
    # A new affiliate has no links yet: nothing for the caches to hear of.
    async with pool.acquire() as conn:
        return await affiliate_service.create_affiliate(
            conn,
            body=body,
            actor=actor_of(caller),
            allowed_networks=settings.sender_allowed_networks,
        )


@affiliates.get("", response_model=Page[AffiliateOut])
async def list_affiliates(
    pool: PoolDep,
    caller: ScopedKey,
    page: PageQuery,
    status: Annotated[AffiliateStatus | None, Query(description="paused: suspended")] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    group_id: IdQuery = None,
) -> Page[AffiliateOut]:
    """All affiliates for an admin; a manager's session theirs; an affiliate key itself."""
    return await affiliate_service.list_affiliates(
        pool,
        page=page,
        only_affiliate_id=caller.affiliate_id,
        status="suspended" if status == "paused" else status,
        tag=tag,
        group_id=group_id,
        among=caller.among(),
    )


@affiliates.get("/{affiliate_id}", response_model=AffiliateOut)
async def get_affiliate(affiliate_id: IdPath, pool: PoolDep, caller: ScopedKey) -> AffiliateOut:
    caller.require_affiliate_access(affiliate_id)
    return await affiliate_service.get_affiliate(pool, affiliate_id=affiliate_id)


@affiliates.patch("/{affiliate_id}", response_model=AffiliateOut)
async def update_affiliate(
    affiliate_id: IdPath,
    body: AffiliatePatch,
    writes: Writes,
    settings: SettingsDep,
    caller: ScopedKey,
) -> AffiliateOut:
    """Admin: any field (a status change follows the lifecycle, 409 otherwise); a manager
    the same of their affiliates but `manager_id` (assigning them is the owners'). The
    affiliate's own key: company, website, country, contact and its postback
    (postback_url, postback_method, postback_on) only."""
    caller.require_affiliate_access(affiliate_id)
    if caller.is_manager and "manager_id" in body.model_fields_set:
        caller.require_admin()
    # A suspended affiliate's links go to the fallback: the redirect caches must hear of it.
    return await writes.on_connection(
        lambda conn: affiliate_service.update_affiliate(
            conn,
            affiliate_id=affiliate_id,
            body=body,
            actor=actor_of(caller),
            allowed_networks=settings.sender_allowed_networks,
        )
    )


@affiliates.delete("/{affiliate_id}", status_code=204)
async def delete_affiliate(affiliate_id: IdPath, writes: Writes, caller: AdminKey) -> Response:
    """Delete, or archive when links, keys or offer rules refer to the affiliate."""
    await writes.on_connection(
        lambda conn: affiliate_service.delete_affiliate(
            conn, affiliate_id=affiliate_id, actor=actor_of(caller)
        )
    )
    return NO_CONTENT


# --- links -------------------------------------------------------------------------

links = APIRouter(prefix="/links", tags=["links"])


@links.post("", status_code=201, response_model=LinkOut)
async def create_link(
    body: LinkIn, writes: Writes, public_url: PublicUrl, caller: StaffKey
) -> LinkOut:
    caller.require_affiliate_access(body.affiliate_id)  # a manager's affiliates only
    return await writes.announce(
        link_service.create_link(writes.pool, body=body, public_url=public_url)
    )


@links.get("", response_model=Page[LinkOut])
async def list_links(
    pool: PoolDep, public_url: PublicUrl, caller: ScopedKey, query: Filters[link_service.LinkQuery]
) -> Page[LinkOut]:
    """All links for an admin; a manager's session their affiliates'; an affiliate key its
    own."""
    among = caller.among(query.affiliate_id)
    return await link_service.list_links(
        pool,
        query=query if among is not None else query.scoped(caller),
        public_url=public_url,
        among=among,
    )


@links.get("/{link_id}", response_model=LinkOut)
async def get_link(
    link_id: IdPath, pool: PoolDep, public_url: PublicUrl, caller: ScopedKey
) -> LinkOut:
    link = await link_service.get_link(pool, link_id=link_id, public_url=public_url)
    caller.require_record(link.affiliate_id, "link", link_id)
    return link


@links.patch("/{link_id}", response_model=LinkOut)
async def update_link(
    link_id: IdPath,
    body: LinkPatch,
    writes: Writes,
    public_url: PublicUrl,
    caller: StaffKey,
) -> LinkOut:
    """Archive or reactivate a link. Its code and target stay fixed once shared."""
    await _require_link(writes, caller, link_id, public_url)
    return await writes.announce(
        link_service.set_link_status(
            writes.pool, link_id=link_id, status=body.status, public_url=public_url
        )
    )


@links.delete("/{link_id}", status_code=204)
async def delete_link(
    link_id: IdPath, writes: Writes, public_url: PublicUrl, caller: StaffKey
) -> Response:
    """Archive the link: it keeps redirecting, to the offer's fallback URL."""
    await _require_link(writes, caller, link_id, public_url)
    await writes.announce(link_service.archive_link(writes.pool, link_id=link_id))
    return NO_CONTENT


async def _require_link(writes: CatalogWrites, caller: StaffKey, link_id: int, url: str) -> None:
    """A manager changes their affiliates' links only (another's is not found)."""
    if caller.is_manager:
        link = await link_service.get_link(writes.pool, link_id=link_id, public_url=url)
        caller.require_record(link.affiliate_id, "link", link_id)


for sub in (advertisers, offers, affiliates, links):
    router.include_router(sub)
