"""The documented shapes of the reports (their bodies are built as plain dicts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Cohort(BaseModel):
    cohort: str = Field(description="First day (local) of the period of the first conversions")
    customers: int = Field(
        description="The cohort's size: customers whose first conversion it holds"
    )


class CohortCell(BaseModel):
    cohort: str
    age: int = Field(description="Periods since the cohort's (0: the cohort's own)")
    currency: str | None = Field(description="For revenue and payout; null for counts")
    value: int | str = Field(description="The metric at this age: a count or a decimal string")
    cumulative: int | str | None = Field(
        description="The metric over ages 0..age; null for customers"
    )
    per_customer: str | None = Field(
        description="cumulative / the cohort's size (lifetime value per customer); "
        "null for customers"
    )


class CohortsOut(BaseModel):
    period: str
    tz: str
    metric: str
    from_: str = Field(alias="from")
    to: str
    cohorts: list[dict[str, Any]] = Field(
        description="Each cohort (and group_by value) with its size, as Cohort"
    )
    rows: list[dict[str, Any]] = Field(
        description="Cohort x age cells with approved conversions, as CohortCell plus the "
        "group_by field"
    )


class FunnelStep(BaseModel):
    step: str = Field(
        description="clicks, unique_clicks, goal, first_purchases or repeat_purchases"
    )
    goal: str | None = Field(None, description="The goal's name, for goal steps")
    count: int
    rate: str | None = Field(description="count / the previous step's, percent; null at first")


class FunnelSteps(BaseModel):
    steps: list[FunnelStep]


class FunnelOut(BaseModel):
    offer: int
    tz: str
    from_: str = Field(alias="from")
    to: str
    goals: list[str] = Field(description="The offer's main goal, then its other goals")
    rows: list[dict[str, Any]] = Field(
        description="With group_by: the group's value and its `steps`, as FunnelSteps"
    )
    totals: FunnelSteps
