-- Stats: coarser rollup tiers and the click's currency (issue 6; README "Stats").
--
-- stats_rollup (0001) has 15-minute buckets and every low-cardinality dimension, so it is
-- exact in any time zone, but at millions of clicks a month it is nearly as long as the
-- clicks themselves. Two coarser tiers keep the dimensions dashboards group by most:
-- hourly buckets (exact for whole-hour zones) and UTC days (exact for UTC-offset zones).
-- They are filled from stats_rollup by statement-level triggers, so whatever writes
-- stats_rollup (the click worker, attribution, a status change) updates every tier in
-- the same transaction without knowing the tiers exist, and each tier stays an exact
-- re-aggregation of the 15-minute one. DELETEs are not propagated on purpose: pruning
-- old 15-minute buckets keeps their hourly and daily totals.

-- The currency of the offer when the click was made (the rollups' currency), so reports
-- from raw clicks agree with the rollups even after an offer changes currency. NULL on
-- rows stored before this migration: readers fall back to the offer's currency.
ALTER TABLE clicks ADD COLUMN currency char(3);

CREATE TABLE stats_rollup_hourly (
    bucket                timestamptz NOT NULL,
    affiliate_id          bigint NOT NULL,
    offer_id              bigint NOT NULL,
    link_id               bigint NOT NULL,
    country               text NOT NULL DEFAULT '',
    currency              char(3) NOT NULL,
    clicks                bigint NOT NULL DEFAULT 0,
    unique_clicks         bigint NOT NULL DEFAULT 0,
    bot_clicks            bigint NOT NULL DEFAULT 0,
    conversions           bigint NOT NULL DEFAULT 0,
    pending_conversions   bigint NOT NULL DEFAULT 0,
    rejected_conversions  bigint NOT NULL DEFAULT 0,
    revenue               numeric(20, 4) NOT NULL DEFAULT 0,
    payout                numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, country, currency)
);
CREATE INDEX stats_rollup_hourly_affiliate_idx ON stats_rollup_hourly (affiliate_id, bucket);

CREATE TABLE stats_rollup_daily (LIKE stats_rollup_hourly INCLUDING ALL);
-- LIKE copies the primary key and index under generated names; the names do not matter.

-- One statement per tier and event; the bodies differ only in their source rows.
CREATE FUNCTION stats_rollup_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO stats_rollup_hourly AS t
        SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout;
        INSERT INTO stats_rollup_daily AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM new_rows
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout;
    ELSE
        -- An UPDATE adds (new - old); a changed key column moves the amounts between
        -- rows, which this handles too since old and new rows are summed separately.
        INSERT INTO stats_rollup_hourly AS t
        SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM (SELECT * FROM new_rows
              UNION ALL
              SELECT bucket, affiliate_id, offer_id, link_id, country, device, os, browser,
                     currency, -clicks, -unique_clicks, -bot_clicks, -conversions,
                     -pending_conversions, -rejected_conversions, -revenue, -payout
              FROM old_rows) d
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout;
        INSERT INTO stats_rollup_daily AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM (SELECT * FROM new_rows
              UNION ALL
              SELECT bucket, affiliate_id, offer_id, link_id, country, device, os, browser,
                     currency, -clicks, -unique_clicks, -bot_clicks, -conversions,
                     -pending_conversions, -rejected_conversions, -revenue, -payout
              FROM old_rows) d
        GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout;
    END IF;
    RETURN NULL;
END $$;

-- Transition tables need one trigger per event. INSERT ... ON CONFLICT DO UPDATE fires
-- both: the inserted rows reach the first, the updated ones the second.
CREATE TRIGGER stats_rollup_fanout_insert AFTER INSERT ON stats_rollup
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_rollup_fanout();
CREATE TRIGGER stats_rollup_fanout_update AFTER UPDATE ON stats_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_rollup_fanout();
