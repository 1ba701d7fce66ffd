"""The cohort rollup's coarse tier as one grain (app/rollups/cohorts.py): the UTC weeks cut
at UTC month starts ("pieces", seven levels), which serve both the monthly and the weekly
reports, in place of 0071's fourteen levels of UTC months and UTC weeks. Drops 0071's
levels, a level a statement (writers of this version add nothing to them), then sums the
pieces from the finer levels, one piece of k1 of one level a transaction holding the
tables' lock (a fraction of a second each on 5M conversions: writers of conversions wait
that long, not the whole backfill; README, Operations). Safe to run again: each slice is
deleted and summed anew."""

from __future__ import annotations

from app.db import Connection
from app.rollups import cohorts

TRANSACTION = False


async def apply(conn: Connection) -> None:
    await cohorts.coarsen(conn)
