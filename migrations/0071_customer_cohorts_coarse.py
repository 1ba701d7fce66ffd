"""The cohort rollup's coarse tier (app/rollups/cohorts.py): the rows of UTC months and
weeks summed from the finer levels, one month (or week) of first conversions a
transaction holding the tables' lock (seconds each on 5M conversions: writers of
conversions wait that long, not the whole backfill; README, Operations). Safe to run
again: each slice is deleted and summed anew."""

from __future__ import annotations

from app.db import Connection
from app.rollups import cohorts

TRANSACTION = False


async def apply(conn: Connection) -> None:
    await cohorts.coarsen(conn)
