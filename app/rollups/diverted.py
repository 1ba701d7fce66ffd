"""The diverted clicks of the rollups (migration 0073): the recount of the rows kept before
the click writer counted them, from the raw clicks still kept.

The click writer adds each batch's diverted clicks to `stats_rollup` with its other click
counts (app/clicks/store.py); the tier triggers carry them up. Rows of days whose click
partitions retention dropped before the recount keep 0: those clicks are uncounted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.db import Connection
from app.rollups import registry

# One UTC hour a transaction: the lock that keeps writers out of the base tier while its
# rows are set is held for that hour's rows only. (Quarter hours took longer in all, for
# no shorter lock: each transaction's cost is mostly the tier triggers' statements.)
BATCH = timedelta(hours=1)
INDEX = "clicks_diverted_idx"
# Diverted clicks alone (a few percent of clicks): the recount and the raw reports' diverted
# counts read them from it (app/stats/queries.py: diverted_leaf).
INDEX_DEFINITION = "(affiliate_id, clicked_at) WHERE diverted IS NOT NULL"

_KEYS = ", ".join(registry.BASE_TIER.keys)
_HOUR = registry.bucket_sql("{ts}", 3600)
_ANY_COUNTED = f"({' OR '.join(f'{m} <> 0' for m in registry.DIVERTED_METRICS)})"
# The hours to recount: those with diverted clicks, and those whose rollups count some
# (set by an earlier run from clicks that are gone or changed since).
HOURS = f"""
SELECT DISTINCT {_HOUR.format(ts="clicked_at")} AS hour FROM clicks WHERE diverted IS NOT NULL
UNION
SELECT bucket FROM stats_rollup_links_hourly WHERE {_ANY_COUNTED}
ORDER BY 1"""
_LOCK = f"LOCK TABLE {registry.BASE} IN SHARE ROW EXCLUSIVE MODE"
_ZERO = f"""
UPDATE {registry.BASE} SET {", ".join(f"{m} = 0" for m in registry.DIVERTED_METRICS)}
WHERE bucket >= $1 AND bucket < $2 AND {_ANY_COUNTED}"""
_COUNTS = ",\n           ".join(
    [
        "count(*) AS diverted",
        *(
            f"count(*) FILTER (WHERE diverted = '{reason}') AS diverted_{reason}"
            for reason in registry.DIVERTED_REASONS
        ),
    ]
)
# Set, never added: a run again gives the same rows. Only rows that exist are set (every
# diverted human click is in its row's `clicks`).
_SET = f"""
UPDATE {registry.BASE} r SET {", ".join(f"{m} = c.{m}" for m in registry.DIVERTED_METRICS)}
FROM (
    SELECT {registry.bucket_sql("clicked_at")} AS bucket, affiliate_id, offer_id, link_id,
           coalesce(country, '') AS country, coalesce(device, '') AS device,
           coalesce(os, '') AS os, coalesce(browser, '') AS browser,
           coalesce(k.currency, (SELECT o.currency FROM offers o WHERE o.id = k.offer_id))
               AS currency,
           {_COUNTS}
    FROM clicks k
    WHERE clicked_at >= $1 AND clicked_at < $2 AND diverted IS NOT NULL AND NOT is_bot
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9
) c
WHERE {" AND ".join(f"r.{k} = c.{k}" for k in ("bucket", *registry.BASE_TIER.keys, "currency"))}"""


@dataclass(slots=True)
class Recount:
    hours: int = 0
    rows: int = 0
    longest_lock_s: float = 0.0


async def recount(conn: Connection, *, pause: float = 1.0) -> Recount:
    """Set the diverted metrics of every rollup row to what the raw clicks kept hold, one
    UTC hour per transaction (the tier triggers carry each change up).

    Idempotent: an hour is recounted from the clicks, not added to. While one is
    recounted the base tier is locked against writers (SHARE ROW EXCLUSIVE conflicts with
    their upserts), so a click is either in the recount (committed before) or brings its
    delta after it: none is counted twice or lost. Clicks an older version stored (it
    counts no diverted clicks) are set right by running it again after the rollout.

    After each hour it waits `pause` times as long as it held the lock, so that writers,
    queued meanwhile, go on: back to back, the hours would hold them nearly all the time
    (on the 10M-click data set at load 10, a writer's median wait was 160 ms)."""
    done = Recount()
    hours: list[datetime] = [r["hour"] for r in await conn.fetch(HOURS)]
    for hour in hours:
        async with conn.transaction():
            await conn.execute(_LOCK)
            locked = time.perf_counter()
            await conn.execute(_ZERO, hour, hour + BATCH)
            status = await conn.execute(_SET, hour, hour + BATCH)
        # Held from the LOCK to the commit.
        held = time.perf_counter() - locked
        done.longest_lock_s = max(done.longest_lock_s, held)
        await asyncio.sleep(held * pause)
        done.hours += 1
        done.rows += int(status.split()[-1])
    return done
