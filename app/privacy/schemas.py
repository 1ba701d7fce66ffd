"""The erasure API's bodies: one subject per request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app import patterns
from app.privacy.subject import Kind

# The 26-character click ID (base32hex, lower case; the last character carries 3 bits).
CLICK_ID = r"^[0-9a-v]{25}[048cgkos]$"


class EraseClick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    click_id: Annotated[
        str, Field(pattern=CLICK_ID, description="a click ID as the redirect made it")
    ]


class EraseIp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip: Annotated[
        str,
        Field(
            pattern=patterns.NETWORK,
            description="an address (its clicks), or a network as IP_ANONYMIZE keeps it",
        ),
    ]


class EraseCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: Annotated[
        int, Field(ge=1, le=patterns.MAX_ID, description="the service's ID of a customer")
    ]


EraseRequest = EraseClick | EraseIp | EraseCustomer


class Erasure(BaseModel):
    id: int
    kind: Kind
    subject: str = Field(
        description="the click or customer ID; for an IP, only its /24 or /48 network"
    )
    key_id: int | None = Field(description="the API key that asked; null: ADMIN_API_KEY")
    counts: dict[str, int] = Field(description="rows or records changed, per holder")
    total: int
    requested_at: datetime
    finished_at: datetime
