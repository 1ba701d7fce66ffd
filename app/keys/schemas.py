from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.patterns import MAX_ID

Role = Literal["admin", "affiliate"]

# As create_key checks: an affiliate key names its affiliate, an admin key names none.
ONE_ROLE: JsonDict = {
    "oneOf": [
        {"properties": {"role": {"const": "admin"}, "affiliate_id": {"type": "null"}}},
        {
            "properties": {"role": {"const": "affiliate"}, "affiliate_id": {"type": "integer"}},
            "required": ["affiliate_id"],
        },
    ]
}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=ONE_ROLE)

    role: Role
    affiliate_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: str | None = Field(default=None, max_length=200)


class KeyOut(BaseModel):
    id: int
    prefix: str
    name: str | None
    role: Role
    affiliate_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="When a request last authenticated with it, to the minute (never: null)."
    )


class CreatedKey(KeyOut):
    key: str = Field(description="The plain key. It is shown in this response only.")
