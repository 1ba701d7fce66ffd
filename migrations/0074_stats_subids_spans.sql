-- migrate: no-transaction
-- The sub-ID tier's span (issue 17, app/rollups/subids.py): the sums of the tier's whole
-- sealed days [first_day, end_day) per affiliate, dimension, value and currency, so that
-- a week's top sub-IDs read one list (one index range) and probe one row per candidate
-- instead of one per day. The upkeep builds a new span when the days it should hold
-- change (the UTC day turns, or a day is sealed again) and drops the old one in the same
-- transaction; a reader uses a span only while its counts are its days' confirmed counts.
-- Not in one transaction, for the conversions' index built concurrently at the end: each
-- statement may run again after a failed start.
CREATE TABLE IF NOT EXISTS stats_subids_spans (
    first_day     date PRIMARY KEY,
    end_day       date NOT NULL CHECK (end_day > first_day)
);
CREATE TABLE IF NOT EXISTS stats_subids_span (
    first_day     date NOT NULL,
    affiliate_id  bigint NOT NULL,
    dimension     smallint NOT NULL,
    value_key     bytea NOT NULL,
    currency      text NOT NULL,
    value         text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    bot_clicks    bigint NOT NULL,
    PRIMARY KEY (first_day, affiliate_id, dimension, value_key, currency)
);
-- A span's values, most clicks first: its top K.
CREATE INDEX IF NOT EXISTS stats_subids_span_top_idx
    ON stats_subids_span (first_day, affiliate_id, dimension, clicks DESC);
-- The clicks (bots included) the span holds per affiliate (and the network, 0): the sum
-- of its days' stats_subids_counted when it was built.
CREATE TABLE IF NOT EXISTS stats_subids_span_counted (
    first_day     date NOT NULL,
    affiliate_id  bigint NOT NULL,
    clicks        bigint NOT NULL,
    PRIMARY KEY (first_day, affiliate_id)
);

-- The conversions of a top-N's rows by sub1 (app/stats/subids.py: the N values alone):
-- an affiliate has thousands of conversions a week, a top 100 of sub1 a few hundred.
-- Concurrently, so conversions go on meanwhile; a build that failed leaves an invalid
-- index behind, so a second run drops it first.
DROP INDEX CONCURRENTLY IF EXISTS conversions_affiliate_sub1_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversions_affiliate_sub1_idx
    ON conversions (affiliate_id, (coalesce(sub1, '')), created_at);
