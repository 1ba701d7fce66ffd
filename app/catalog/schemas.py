"""Request and response bodies of the catalog API (DESIGN.md, resource fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from app.catalog.fields import (
    ARCHIVED,
    ZERO_RULE,
    Cap,
    Caps,
    Cidr,
    Currency,
    Email,
    Goal,
    GoalName,
    Goals,
    Id,
    Input,
    Integral,
    Name,
    Patch,
    PayoutOverride,
    PayoutOverrides,
    Rule,
    SigningSecret,
    WindowHours,
)
from app.catalog.targeting import Targeting
from app.macros import OfferUrl, PostbackUrl
from app.money import Money, MoneyText
from app.partners.fields import (
    PAUSED_ALIAS,
    Application,
    Company,
    Contact,
    ContactOut,
    Country,
    MaskedPayment,
    Status,
    Tags,
    Website,
)

# --- advertisers -------------------------------------------------------------------


ADVERTISER_SECRET_DOC = (
    "HMAC-SHA256 key: postbacks must then carry X-Signature (write-only: never returned)"
)


class AdvertiserIn(Input):
    name: Name
    ip_allowlist: list[Cidr] = Field(default_factory=list, max_length=100)
    signing_secret: SigningSecret | None = Field(default=None, description=ADVERTISER_SECRET_DOC)


class AdvertiserPatch(Patch):
    nullable = frozenset({"signing_secret"})

    name: Name | None = None
    ip_allowlist: list[Cidr] | None = Field(default=None, max_length=100)
    signing_secret: SigningSecret | None = Field(
        default=None, description=ADVERTISER_SECRET_DOC + "; null removes it"
    )


class AdvertiserOut(BaseModel):
    id: int
    name: str
    status: Literal["active", "archived"] = Field(description=ARCHIVED)
    postback_token: str
    postback_url: str = Field(description="The URL to give the advertiser, with its token")
    ip_allowlist: list[str]
    signing_secret_set: bool = Field(
        description="whether postbacks must be signed (the secret itself is never returned)"
    )
    created_at: datetime
    updated_at: datetime


# --- offers ------------------------------------------------------------------------

PixelPolicy = Literal["auto", "allow", "deny"]
PixelStatus = Literal["pending", "approved"]
PIXEL_POLICY_DOC = (
    "whether /pixel.gif conversions count: auto (only when the advertiser has no "
    "signing_secret and no ip_allowlist), allow, deny"
)
PIXEL_STATUS_DOC = "the status a pixel conversion starts in (a postback may then change it)"
AttributionModel = Literal["last_click", "first_click"]
LifetimeDays = Annotated[int, Field(ge=0, le=36600), Integral]
RecurringLimit = Annotated[int, Field(ge=0, le=2**31 - 1), Integral]
ATTRIBUTION_MODEL_DOC = (
    "when a customer comes back through another affiliate's click or coupon: last_click "
    "credits the new affiliate and rebinds the customer, first_click keeps the bound one"
)
LIFETIME_DOC = (
    "days after a customer's first conversion during which its later ones are credited "
    "to its affiliate without a click (null: forever; 0: never)"
)
RECURRING_PAYOUT_DOC = (
    "payout rule of a customer's conversions after the first, on the main goal (null: "
    "the same as payout)"
)
RECURRING_LIMIT_DOC = "how many of a customer's recurring conversions are paid (null: all)"
HOLD_DAYS_DOC = (
    "days an approved conversion's commission is held before it can be paid out (kept "
    "with each commission as it is written)"
)
HoldDays = Annotated[int, Field(ge=0, le=3650, description=HOLD_DAYS_DOC), Integral]
MAX_AMOUNT_DOC = (
    "largest `amount` a conversion may carry, in the offer's currency (null: no cap); a "
    "larger one, or one in another currency, is stored rejected with reason `amount`"
)
TARGETING_DOC = (
    "the countries and devices the offer's clicks are for; a click outside goes to the "
    "fallback URL (as a paused offer's), stored with diverted `targeting_country` or "
    "`targeting_device`"
)


class OfferFields(Input):
    """Fields shared by create and update; lists given in an update replace the old ones."""

    fallback_url: OfferUrl | None = None
    currency: Currency = "USD"
    attribution_window_hours: WindowHours = 720
    main_goal: GoalName = "conversion"
    main_goal_multiple: bool = False
    revenue: Rule = ZERO_RULE
    payout: Rule = ZERO_RULE
    allow_payout_param: bool = Field(
        default=False, description="whether a postback's `payout` parameter overrides the rules"
    )
    goals: Goals = Field(default_factory=list)
    payout_overrides: PayoutOverrides = Field(default_factory=list)
    caps: Caps = Field(default_factory=list)
    pixel_policy: PixelPolicy = Field(default="auto", description=PIXEL_POLICY_DOC)
    pixel_status: PixelStatus = Field(default="pending", description=PIXEL_STATUS_DOC)
    max_amount: Money | None = Field(default=None, description=MAX_AMOUNT_DOC)
    attribution_model: AttributionModel = Field(
        default="last_click", description=ATTRIBUTION_MODEL_DOC
    )
    lifetime_days: LifetimeDays | None = Field(default=365, description=LIFETIME_DOC)
    recurring_payout: Rule | None = Field(default=None, description=RECURRING_PAYOUT_DOC)
    recurring_limit: RecurringLimit | None = Field(default=None, description=RECURRING_LIMIT_DOC)
    hold_days: HoldDays = 30
    targeting: Targeting = Field(default_factory=Targeting, description=TARGETING_DOC)

    @model_validator(mode="after")
    def _unique_names(self) -> OfferFields:
        check_offer_lists(self.main_goal, self.goals, self.payout_overrides, self.caps)
        return self


def check_offer_lists(
    main_goal: str | None,
    goals: list[Goal] | None,
    overrides: list[PayoutOverride] | None,
    caps: list[Cap] | None,
) -> None:
    if goals is not None:
        names = [g.name for g in goals]
        if len(set(names)) != len(names):
            raise ValueError("goal names must be unique")
        if main_goal is not None and main_goal in names:
            raise ValueError(f"goal {main_goal!r} is the main goal; set its rules on the offer")
    if overrides is not None:
        ids = [o.affiliate_id for o in overrides]
        if len(set(ids)) != len(ids):
            raise ValueError("one payout override per affiliate")
    if caps is not None:
        keys = [(c.metric, c.period, c.affiliate_id) for c in caps]
        if len(set(keys)) != len(keys):
            raise ValueError("one cap per metric, period and affiliate")


class OfferIn(OfferFields):
    advertiser_id: Id
    name: Name
    url: OfferUrl
    status: Literal["active", "paused"] = "active"


class OfferPatch(Patch):
    nullable = frozenset(
        {"fallback_url", "max_amount", "lifetime_days", "recurring_payout", "recurring_limit"}
        | {"targeting"}
    )

    name: Name | None = None
    url: OfferUrl | None = None
    fallback_url: OfferUrl | None = None
    status: Literal["active", "paused"] | None = None
    currency: Currency | None = None
    attribution_window_hours: WindowHours | None = None
    main_goal: GoalName | None = None
    main_goal_multiple: bool | None = None
    revenue: Rule | None = None
    payout: Rule | None = None
    allow_payout_param: bool | None = None
    goals: Goals | None = None
    payout_overrides: PayoutOverrides | None = None
    caps: Caps | None = None
    pixel_policy: PixelPolicy | None = Field(default=None, description=PIXEL_POLICY_DOC)
    pixel_status: PixelStatus | None = Field(default=None, description=PIXEL_STATUS_DOC)
    max_amount: Money | None = Field(default=None, description=MAX_AMOUNT_DOC + "; null removes it")
    attribution_model: AttributionModel | None = Field(
        default=None, description=ATTRIBUTION_MODEL_DOC
    )
    lifetime_days: LifetimeDays | None = Field(default=None, description=LIFETIME_DOC)
    recurring_payout: Rule | None = Field(default=None, description=RECURRING_PAYOUT_DOC)
    recurring_limit: RecurringLimit | None = Field(default=None, description=RECURRING_LIMIT_DOC)
    hold_days: HoldDays | None = None
    targeting: Targeting | None = Field(
        default=None, description=TARGETING_DOC + "; replaces the stored one; null removes it"
    )

    @model_validator(mode="after")
    def _unique_names(self) -> OfferPatch:
        check_offer_lists(self.main_goal, self.goals, self.payout_overrides, self.caps)
        return self


class OfferOut(BaseModel):
    id: int
    advertiser_id: int
    name: str
    url: str
    fallback_url: str | None
    status: Literal["active", "paused", "archived"] = Field(description=ARCHIVED)
    currency: str
    attribution_window_hours: int
    main_goal: str
    main_goal_multiple: bool
    revenue: Rule
    payout: Rule
    allow_payout_param: bool
    goals: list[Goal]
    payout_overrides: list[PayoutOverride]
    caps: list[Cap]
    pixel_policy: PixelPolicy = Field(description=PIXEL_POLICY_DOC)
    pixel_status: PixelStatus = Field(description=PIXEL_STATUS_DOC)
    max_amount: Money | None = Field(description=MAX_AMOUNT_DOC)
    attribution_model: AttributionModel = Field(description=ATTRIBUTION_MODEL_DOC)
    lifetime_days: int | None = Field(description=LIFETIME_DOC)
    recurring_payout: Rule | None = Field(description=RECURRING_PAYOUT_DOC)
    recurring_limit: int | None = Field(description=RECURRING_LIMIT_DOC)
    hold_days: int = Field(description=HOLD_DAYS_DOC)
    targeting: Targeting = Field(description=TARGETING_DOC)
    created_at: datetime
    updated_at: datetime


# --- affiliates --------------------------------------------------------------------

PAYOUT_THRESHOLD_DOC = (
    'the smallest payout per currency, e.g. {"USD": "50.00"}; a currency not listed takes '
    "the PAYOUT_THRESHOLD setting (admin-writable)"
)
PayoutThresholds = Annotated[
    dict[Currency, MoneyText], Field(max_length=200, description=PAYOUT_THRESHOLD_DOC)
]


def _suspended(status: str) -> str:
    return "suspended" if status == PAUSED_ALIAS else status


# `paused` is the name from before issue 14: taken, and stored, as `suspended`.
WritableStatus = Annotated[Literal["active", "suspended", "paused"], AfterValidator(_suspended)]
PROFILE_DOC = "company, website, country and contact are the affiliate's to edit too"


class AffiliateProfile(Input):
    """The profile fields (issue 14) that create and PATCH take."""

    company: Company | None = None
    website: Website | None = None
    country: Country | None = None
    contact: Contact | None = None
    tags: Tags | None = None
    manager_id: Id | None = Field(default=None, description="an admin key's id")
    group_id: Id | None = Field(default=None, description="a commission group's id")


class AffiliateIn(AffiliateProfile):
    name: Name
    email: Email | None = None
    postback_url: PostbackUrl | None = None
    postback_method: Literal["GET", "POST"] = "GET"
    postback_on: Literal["approved", "all"] = Field(
        default="approved", description="fire on approved conversions only, or on every change"
    )
    status: WritableStatus = "active"
    signing_secret: SigningSecret | None = None
    payout_threshold: PayoutThresholds = Field(default_factory=dict)


class AffiliatePatch(Patch, AffiliateProfile):
    """An affiliate's own key may change company, website, country, contact and its
    postback (postback_url, postback_method, postback_on) only."""

    nullable = frozenset(
        {"email", "postback_url", "signing_secret", "company", "website", "country", "contact"}
        | {"manager_id", "group_id"}
    )

    name: Name | None = None
    email: Email | None = None
    postback_url: PostbackUrl | None = None
    postback_method: Literal["GET", "POST"] | None = None
    postback_on: Literal["approved", "all"] | None = None
    status: WritableStatus | None = None
    signing_secret: SigningSecret | None = None
    payout_threshold: PayoutThresholds | None = Field(
        default=None, description=PAYOUT_THRESHOLD_DOC + "; replaces the stored map"
    )


class AffiliateOut(BaseModel):
    id: int
    name: str
    email: str | None
    postback_url: str | None
    postback_method: str
    postback_on: str
    status: Status = Field(description="see README, Partners: lifecycle")
    signing_secret: str | None = Field(
        description="HMAC-SHA256 key for the X-Tracker-Signature header of postbacks"
    )
    company: str | None
    website: str | None
    country: str | None
    contact: ContactOut | None
    payment: MaskedPayment | None = Field(description="masked; PUT .../payment replaces it")
    tags: list[str]
    manager_id: int | None
    group_id: int | None
    application: Application | None = Field(description="what POST /apply said, if it came so")
    payout_threshold: dict[str, Money] = Field(description=PAYOUT_THRESHOLD_DOC)
    created_at: datetime
    updated_at: datetime

    @field_validator("payout_threshold", mode="before")
    @classmethod
    def _stored_json(cls, value: object) -> object:
        return orjson.loads(value) if isinstance(value, str) else value


# --- links -------------------------------------------------------------------------


class LinkIn(Input):
    affiliate_id: Id
    offer_id: Id
    code: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{3,64}$",
        description="generated (unguessable) when omitted",
    )


class LinkPatch(Input):
    status: Literal["active", "archived"]


class LinkOut(BaseModel):
    id: int
    code: str
    affiliate_id: int
    offer_id: int
    status: Literal["active", "archived"]
    tracking_url: str
    created_at: datetime
    updated_at: datetime
