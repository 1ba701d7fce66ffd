-- The sub-ID tier (issue 17, app/rollups/subids.py): clicks per UTC day, affiliate, sub-ID
-- dimension, value and currency, filled by the worker's upkeep from the raw clicks of
-- hours already past (never by the click writer), and read by exact top-N sub-ID reports
-- (app/stats/subids.py) for the days whose seal the rollups confirm.

-- dimension: the index of the dimension in app.stats.queries.SUB_DIMENSIONS (0 = sub1).
-- value_key: sha256 of the value ('' for none), so any value up to 4 kB fits the keys.
CREATE TABLE stats_subids_daily (
    affiliate_id  bigint NOT NULL,
    dimension     smallint NOT NULL,
    day           date NOT NULL,
    value_key     bytea NOT NULL,
    currency      text NOT NULL,
    value         text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    bot_clicks    bigint NOT NULL,
    -- Day first: a seal adds a day's rows in one corner of the index, not all over it.
    PRIMARY KEY (day, affiliate_id, dimension, value_key, currency)
);
-- A day's values, most clicks first: the top K of each day.
CREATE INDEX stats_subids_daily_top_idx
    ON stats_subids_daily (affiliate_id, dimension, day, clicks DESC);

-- The tier holds the clicks of [day, day + sealed_until) ...
CREATE TABLE stats_subids_seals (
    day           date PRIMARY KEY,
    sealed_until  timestamptz NOT NULL
);
-- ... which were, per affiliate, this many (bots included): a day is read from the tier
-- only while the rollups count the same, so a click stored late, after its hour was
-- sealed, sends the day back to the raw clicks until the upkeep seals it again.
CREATE TABLE stats_subids_counted (
    day           date NOT NULL,
    affiliate_id  bigint NOT NULL,
    clicks        bigint NOT NULL,
    PRIMARY KEY (day, affiliate_id)
);
