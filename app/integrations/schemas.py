"""Request and response bodies of /api/v1/integrations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from app.catalog.fields import GoalName, Id, Input, Name, Patch
from app.integrations.mapping import FIELDS, generic_problem

Provider = Literal["hubspot", "salesforce", "zoho", "generic"]
PROVIDERS: tuple[Provider, ...] = ("hubspot", "salesforce", "zoho", "generic")
Status = Literal["pending", "approved", "rejected"]
IntegrationStatus = Literal["enabled", "disabled"]

# A JSON pointer (RFC 6901) to a member, or a property name (anything not starting
# with "/"): what each CRM field is called in the bodies it sends.
POINTER = r"^(?:/(?:[^~/]|~[01])*)+$"
FIELD = r"^(?:[^/\x00][^\x00]*|(?:/(?:[^~/]|~[01])*)+)$"
Field_ = Annotated[str, Field(min_length=1, max_length=200, pattern=FIELD)]
StageName = Annotated[str, Field(min_length=1, max_length=200)]
# An integration's own secret: HubSpot's client secret as HubSpot shows it, or a token.
Secret = Annotated[str, Field(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class StageTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    goal: GoalName | None = Field(default=None, description="default: the offer's main goal")
    status: Status


StageMap = Annotated[
    dict[StageName, Status | StageTarget],
    Field(
        min_length=1,
        max_length=200,
        description="CRM stage name -> a status, or {goal, status}; other stages are ignored",
    ),
]


class FieldMap(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    click_id: Field_ | None = Field(default=None, description="holds the tracker's click ID")
    txid: Field_ | None = Field(default=None, description="the deal ID: the conversion's txid")
    stage: Field_ | None = None
    amount: Field_ | None = None
    currency: Field_ | None = None
    customer_id: Field_ | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


# As the service checks: HubSpot signs with the app's client secret, which only the
# admin knows; a generic integration's body has no names, so its fields are pointers.
PROVIDER_RULES: JsonDict = {
    "oneOf": [
        {
            "properties": {"provider": {"const": "hubspot"}, "secret": {"type": "string"}},
            "required": ["secret"],
        },
        {"properties": {"provider": {"enum": ["salesforce", "zoho"]}}},
        {
            "properties": {
                "provider": {"const": "generic"},
                "field_map": {
                    "required": ["click_id", "txid", "stage"],
                    "properties": {name: {"type": "string", "pattern": POINTER} for name in FIELDS},
                },
            },
            "required": ["field_map"],
        },
    ]
}

SECRET_DOC = (
    "hubspot: the app's client secret (required); salesforce, generic: the HMAC key of "
    "X-Tracker-Signature; zoho: the token. Generated when omitted; write-only: shown in "
    "the create response only"
)


class IntegrationIn(Input):
    model_config = ConfigDict(json_schema_extra=PROVIDER_RULES)

    provider: Provider
    advertiser_id: Id
    offer_id: Id | None = Field(
        default=None,
        description="one of the advertiser's offers (the offer of conversions "
        "whose click never arrives); default none",
    )
    name: Name | None = None
    secret: Secret | None = Field(default=None, description=SECRET_DOC)
    stage_map: StageMap
    field_map: FieldMap = Field(default_factory=FieldMap)

    @model_validator(mode="after")
    def _provider_rules(self) -> IntegrationIn:
        if self.provider == "hubspot" and self.secret is None:
            raise ValueError("a hubspot integration needs secret: the app's client secret")
        if self.provider == "generic" and (problem := generic_problem(self.field_map.given())):
            raise ValueError(problem)
        return self


class IntegrationPatch(Patch):
    nullable = frozenset({"offer_id", "name"})

    offer_id: Id | None = None
    name: Name | None = None
    status: IntegrationStatus | None = None
    secret: Secret | None = Field(default=None, description="a new secret (write-only)")
    stage_map: StageMap | None = None
    field_map: FieldMap | None = Field(
        default=None, description="replaces the map (the provider's defaults fill the rest)"
    )


class IntegrationOut(BaseModel):
    id: int
    provider: Provider
    advertiser_id: int
    offer_id: int | None
    name: str | None
    status: IntegrationStatus
    stage_map: dict[str, Status | StageTarget]
    field_map: dict[str, str] = Field(description="the whole map, the provider's defaults too")
    inbound_url: str = Field(description="where the CRM sends its calls")
    secret_set: bool
    created_at: datetime
    updated_at: datetime


class CreatedIntegration(IntegrationOut):
    secret: str = Field(description="shown in this response only")


class Accepted(BaseModel):
    status: Literal["accepted"]
    accepted: int | None = Field(default=None, description="a batch: the events queued")
    ignored: int | None = Field(default=None, description="a batch: the events ignored")


class Ignored(BaseModel):
    status: Literal["ignored"]
    reason: str
