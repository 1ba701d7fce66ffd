"""The cohort rollup (issue 13): customers' approved conversions by the UTC time of their
first conversion and their own, at the levels app/rollups/cohorts.py describes, and the
cohort sizes, counted from the conversions kept so far (writers of conversions wait on
the tables' lock meanwhile: about a minute for 5M conversions; README, Operations)."""

from __future__ import annotations

from app.db import Connection
from app.rollups import cohorts

TRANSACTION = True

TABLES = """
CREATE TABLE customer_cohorts (
    level smallint NOT NULL,
    k1 timestamptz NOT NULL,
    k2 timestamptz NOT NULL,
    k3 timestamptz NOT NULL,
    k4 timestamptz NOT NULL,
    currency text NOT NULL,
    conversions bigint NOT NULL DEFAULT 0,
    revenue numeric(20, 4) NOT NULL DEFAULT 0,
    payout numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (level, k1, k2, k3, k4, currency)
);
CREATE TABLE customer_cohort_sizes (
    grain integer NOT NULL,
    bucket timestamptz NOT NULL,
    customers bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket)
);
"""


async def apply(conn: Connection) -> None:
    await conn.execute(TABLES)
    await cohorts.rebuild(conn)
