"""The bodies of /api/v1/webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from app import macros, patterns
from app.catalog.fields import Id, Input, Patch
from app.webhooks.events import EVENT_TYPES, EventType

# An absolute http(s) URL as the other URL fields take it, with no macros at all.
URL_PATTERN = patterns.url(frozenset()).replace(r"|\{(?:)\}", "")


def _webhook_url(url: str) -> str:
    if "{" in url or "}" in url:
        raise ValueError("must not contain { or } (write them as %7B and %7D)")
    return macros.validate_url_template(url, frozenset())


WebhookUrl = Annotated[
    str,
    AfterValidator(_webhook_url),
    WithJsonSchema({"type": "string", "maxLength": macros.MAX_URL_LENGTH, "pattern": URL_PATTERN}),
]
Events = Annotated[
    list[EventType],
    Field(min_length=1, max_length=len(EVENT_TYPES), json_schema_extra={"uniqueItems": True}),
    AfterValidator(lambda events: _unique(events)),
]
Description = Annotated[str, Field(max_length=500)]
WebhookStatus = Literal["enabled", "disabled"]


def _unique(events: list[str]) -> list[str]:
    if len(set(events)) != len(events):
        raise ValueError("lists an event twice")
    return events


class WebhookIn(Input):
    url: WebhookUrl
    events: Events = Field(description="the event types the endpoint hears of")
    description: Description = ""
    affiliate_id: Id | None = Field(
        default=None,
        description="an affiliate's own endpoint: its events only, without revenue or "
        "customer IDs (an affiliate key may only create its own)",
    )


class WebhookPatch(Patch):
    url: WebhookUrl | None = None
    events: Events | None = None
    description: Description | None = None
    status: WebhookStatus | None = Field(
        default=None, description="`enabled` again resets the count of failures"
    )


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    affiliate_id: int | None
    status: WebhookStatus
    consecutive_failures: int = Field(description="failed tries in a row, now")
    failing_since: datetime | None = Field(description="the first failure of that run")
    disabled_reason: str | None = Field(description="why it was disabled (by hand or not)")
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="`whsec_<base64>`: shown here only, on create and rotate-secret"
    )


class TestSent(BaseModel):
    delivery_id: int = Field(description="see /api/v1/deliveries/{id}")
    event_id: str = Field(description="the `webhook-id` it is sent with")
