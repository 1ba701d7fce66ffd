-- Stats: two small tiers so that reports in half-hour zones (Asia/Kolkata) need not read
-- 15-minute buckets for the whole range. The planner now reads each part of a range from
-- the coarsest tier whose buckets fit it (UTC days in the middle, hours, then quarter
-- hours at the edges); these tiers give that plan its hourly links-level rows, and give
-- reports without any ID dimension (network totals by day or hour, in any zone) a
-- 15-minute table with one row per bucket and currency.
--
-- Both are fed from stats_rollup_links, whose transition tables are already grouped
-- without country and user agent, by one trigger function that takes the target table,
-- its bucket width and its key columns as arguments.

CREATE TABLE stats_rollup_links_hourly (LIKE stats_rollup_links INCLUDING ALL);

CREATE TABLE stats_rollup_totals (
    bucket                timestamptz NOT NULL,
    currency              char(3) NOT NULL,
    clicks                bigint NOT NULL DEFAULT 0,
    unique_clicks         bigint NOT NULL DEFAULT 0,
    bot_clicks            bigint NOT NULL DEFAULT 0,
    conversions           bigint NOT NULL DEFAULT 0,
    pending_conversions   bigint NOT NULL DEFAULT 0,
    rejected_conversions  bigint NOT NULL DEFAULT 0,
    revenue               numeric(20, 4) NOT NULL DEFAULT 0,
    payout                numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, currency)
);

-- TG_ARGV: target table, bucket width, key columns between bucket and currency ('' for
-- none). The arguments are fixed by the CREATE TRIGGER statements below, never by input.
-- Rows are upserted in key order, so two writers that touch the same rows (every batch
-- touches its quarter hour's network total) take their locks in the same order and wait
-- for each other instead of deadlocking.
CREATE FUNCTION stats_tier_fanout() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    keys text := CASE WHEN TG_ARGV[2] = '' THEN '' ELSE TG_ARGV[2] || ', ' END;
    amounts text := 'clicks, unique_clicks, bot_clicks, conversions, pending_conversions, '
                    'rejected_conversions, revenue, payout';
    source text := format('SELECT bucket, %scurrency, %s FROM new_rows', keys, amounts);
    conflict text := format('bucket, %scurrency', keys);
BEGIN
    -- INSERT ... ON CONFLICT fires both triggers, often one with no rows: skip planning.
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;
    END IF;
    -- The transition table old_rows exists only for an UPDATE, which moves (new - old).
    IF TG_OP = 'UPDATE' THEN
        source := source || format(
            ' UNION ALL SELECT bucket, %scurrency, -clicks, -unique_clicks, -bot_clicks, '
            '-conversions, -pending_conversions, -rejected_conversions, -revenue, -payout '
            'FROM old_rows', keys);
    END IF;
    EXECUTE format(
        'INSERT INTO %I AS t (bucket, %scurrency, %s) '
        'SELECT date_bin(%L::interval, bucket, TIMESTAMPTZ ''2000-01-01 00:00:00+00''), '
        '%scurrency, sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions), '
        'sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout) '
        'FROM (%s) d GROUP BY 1, %scurrency ORDER BY 1, %scurrency '
        'ON CONFLICT (%s) DO UPDATE SET '
        'clicks = t.clicks + EXCLUDED.clicks, '
        'unique_clicks = t.unique_clicks + EXCLUDED.unique_clicks, '
        'bot_clicks = t.bot_clicks + EXCLUDED.bot_clicks, '
        'conversions = t.conversions + EXCLUDED.conversions, '
        'pending_conversions = t.pending_conversions + EXCLUDED.pending_conversions, '
        'rejected_conversions = t.rejected_conversions + EXCLUDED.rejected_conversions, '
        'revenue = t.revenue + EXCLUDED.revenue, payout = t.payout + EXCLUDED.payout',
        TG_ARGV[0], keys, amounts, TG_ARGV[1], keys, source, keys, keys, conflict);
    RETURN NULL;
END $$;

-- The backfill and the triggers must see the same rows: writers of stats_rollup_links
-- (through stats_rollup's trigger) wait until the triggers exist.
LOCK TABLE stats_rollup_links IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO stats_rollup_links_hourly
SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), affiliate_id,
       offer_id, link_id, currency, sum(clicks), sum(unique_clicks), sum(bot_clicks),
       sum(conversions), sum(pending_conversions), sum(rejected_conversions), sum(revenue),
       sum(payout)
FROM stats_rollup_links GROUP BY 1, 2, 3, 4, 5;
INSERT INTO stats_rollup_totals
SELECT bucket, currency, sum(clicks), sum(unique_clicks), sum(bot_clicks), sum(conversions),
       sum(pending_conversions), sum(rejected_conversions), sum(revenue), sum(payout)
FROM stats_rollup_links GROUP BY 1, 2;

-- Transition tables need one trigger per event (INSERT ... ON CONFLICT fires both).
CREATE TRIGGER stats_rollup_links_hourly_insert AFTER INSERT ON stats_rollup_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_links_hourly', '1 hour',
                                       'affiliate_id, offer_id, link_id');
CREATE TRIGGER stats_rollup_links_hourly_update AFTER UPDATE ON stats_rollup_links
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_links_hourly', '1 hour',
                                       'affiliate_id, offer_id, link_id');
CREATE TRIGGER stats_rollup_totals_insert AFTER INSERT ON stats_rollup_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_totals', '15 minutes', '');
CREATE TRIGGER stats_rollup_totals_update AFTER UPDATE ON stats_rollup_links
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_totals', '15 minutes', '');
