-- Stats: a daily tier without country, for the reports dashboards ask most (by day,
-- affiliate, offer or link): at 10M clicks a month it is ~30 times shorter than the daily
-- tier with country (README "Stats", loadtests/RESULTS.md).

CREATE TABLE stats_rollup_daily_links (
    bucket                timestamptz NOT NULL,
    affiliate_id          bigint NOT NULL,
    offer_id              bigint NOT NULL,
    link_id               bigint NOT NULL,
    currency              char(3) NOT NULL,
    clicks                bigint NOT NULL DEFAULT 0,
    unique_clicks         bigint NOT NULL DEFAULT 0,
    bot_clicks            bigint NOT NULL DEFAULT 0,
    conversions           bigint NOT NULL DEFAULT 0,
    pending_conversions   bigint NOT NULL DEFAULT 0,
    rejected_conversions  bigint NOT NULL DEFAULT 0,
    revenue               numeric(20, 4) NOT NULL DEFAULT 0,
    payout                numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, currency)
);
CREATE INDEX stats_rollup_daily_links_affiliate_idx
    ON stats_rollup_daily_links (affiliate_id, bucket);

INSERT INTO stats_rollup_daily_links
SELECT bucket, affiliate_id, offer_id, link_id, currency, sum(clicks), sum(unique_clicks),
       sum(bot_clicks), sum(conversions), sum(pending_conversions), sum(rejected_conversions),
       sum(revenue), sum(payout)
FROM stats_rollup_daily GROUP BY 1, 2, 3, 4, 5;

-- The fan-out of 0002, now into three tiers, each statement computing the deltas once.
CREATE OR REPLACE FUNCTION stats_rollup_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH d AS (SELECT * FROM new_rows),
        hourly AS (INSERT INTO stats_rollup_hourly AS t
        SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout
            RETURNING 1),
        daily AS (INSERT INTO stats_rollup_daily AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout
            RETURNING 1)
        INSERT INTO stats_rollup_daily_links AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout;
    ELSE
        -- (new - old): a changed key column moves the amounts between rows too.
        WITH d AS (SELECT * FROM new_rows
                   UNION ALL
                   SELECT bucket, affiliate_id, offer_id, link_id, country, device, os,
                          browser, currency, -clicks, -unique_clicks, -bot_clicks,
                          -conversions, -pending_conversions, -rejected_conversions,
                          -revenue, -payout
                   FROM old_rows),
        hourly AS (INSERT INTO stats_rollup_hourly AS t
        SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout
            RETURNING 1),
        daily AS (INSERT INTO stats_rollup_daily AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, country, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, currency) DO UPDATE SET
            clicks = t.clicks + EXCLUDED.clicks,
            unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks,
            bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks,
            conversions = t.conversions + EXCLUDED.conversions,
            pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions,
            rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions,
            revenue = t.revenue + EXCLUDED.revenue,
            payout = t.payout + EXCLUDED.payout
            RETURNING 1)
        INSERT INTO stats_rollup_daily_links AS t
        SELECT date_bin('1 day', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
               affiliate_id, offer_id, link_id, currency,
               sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
               sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
        FROM d GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (bucket, affiliate_id, offer_id, link_id, currency) DO UPDATE SET
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
