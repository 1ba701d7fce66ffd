"""/api/v1/customers: list, one customer (binding, totals, timeline), reassign and erase
(admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api_params import IdPath, TimeQuery, moment
from app.customers import service
from app.customers.schemas import (
    AffiliateCustomerDetail,
    AffiliateCustomerOut,
    CustomerDetail,
    CustomerOut,
    CustomerQuery,
    ReassignIn,
)
from app.deps import AdminKey, PoolDep, ScopedKey, StaffKey
from app.errors import Forbidden
from app.pagination import (
    Filters,
    Page,
)
from app.privacy import service as privacy_service
from app.privacy.deps import ErasureContext
from app.privacy.schemas import Erasure
from app.privacy.subject import Subject

router = APIRouter(prefix="/customers", tags=["customers"])


@router.get("", response_model=Page[CustomerOut] | Page[AffiliateCustomerOut])
async def list_customers(
    pool: PoolDep,
    principal: ScopedKey,
    query: Filters[CustomerQuery],
    first_from: TimeQuery = None,
    first_to: TimeQuery = None,
    external_id: Annotated[str | None, Query(max_length=255, description="admin keys only")] = None,
) -> Page[CustomerOut] | Page[AffiliateCustomerOut]:
    """Customers by ID; an affiliate key sees those bound to its affiliate."""
    scoped = query.scoped(principal)
    if not principal.is_admin and external_id is not None:
        raise Forbidden("an affiliate key may not look customers up by external ID")
    rows = await service.list_customers(
        pool,
        query=scoped,
        first_from=moment(first_from, "first_from", end=False),
        first_to=moment(first_to, "first_to", end=True),
        external_id=external_id or None,
    )
    if principal.is_admin:
        return query.of([CustomerOut.model_validate(r) for r in rows], rows)
    return query.of([AffiliateCustomerOut.model_validate(r) for r in rows], rows)


@router.get("/{customer_id}", response_model=CustomerDetail | AffiliateCustomerDetail)
async def get_customer(
    customer_id: IdPath, pool: PoolDep, principal: ScopedKey
) -> CustomerDetail | AffiliateCustomerDetail:
    """The binding, lifetime totals (approved, per currency) and the timeline."""
    data = await service.get_customer(
        pool, customer_id=customer_id, affiliate_id=principal.only_affiliate_id
    )
    principal.require_record(data["affiliate_id"], "customer", customer_id)  # a manager's
    if principal.is_admin:
        return CustomerDetail.model_validate(data)
    return AffiliateCustomerDetail.model_validate(data)


@router.patch("/{customer_id}", response_model=CustomerDetail)
async def reassign_customer(
    customer_id: IdPath, body: ReassignIn, pool: PoolDep, principal: StaffKey
) -> CustomerDetail:
    """Bind the customer to another affiliate by hand (recorded in its timeline); a
    manager, one of their affiliates' customers to another of them."""
    if principal.is_manager:
        await get_customer(customer_id, pool, principal)
        principal.require_affiliate_access(body.affiliate_id)
    data = await service.reassign(
        pool,
        customer_id=customer_id,
        affiliate_id=body.affiliate_id,
        reason=body.reason,
        changed_by=principal.admin_actor,
    )
    return CustomerDetail.model_validate(data)


@router.delete(
    "/{customer_id}",
    response_model=Erasure,
    responses={
        404: {"description": "no such customer"},
        409: {"description": "erased already, or a spool file busy: try again"},
    },
)
async def erase_customer(customer_id: IdPath, context: ErasureContext, key: AdminKey) -> Erasure:
    """Erase the customer's personal data (README, Privacy), as `POST /privacy/erase` with
    its `customer_id`: the row stays, marked `erased_at`, and goes on counting."""
    return await privacy_service.erase(
        context,
        subject=Subject.of_customer(customer_id),
        key_id=key.key_id,
    )
