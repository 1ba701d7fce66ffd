-- migrate: replaces 0001_init 0002_stats_tiers 0003_conversion_attribution
-- migrate: replaces 0004_stats_daily_links 0005_stats_daily_offer_country
-- migrate: replaces 0006_stats_links_quarter_hours 0007_stats_mixed_grain_tiers
-- migrate: replaces 0008_clicks_affiliate_covering 0009_stats_one_tier_trigger
-- migrate: replaces 0010_pixel_rules 0012_links_updated_at
--
-- The schema as migrations 0001-0012 (0011 was never used) left it, in one file: a new
-- database runs this; a database that has all of those recorded records this one without
-- running it; one that has only some of them is refused (README, Operations: migrations
-- on a live system). The data model is DESIGN.md's. Money is NUMERIC, never float; times
-- are timestamptz. Column order is the old chain's (columns added later stand last), so
-- both kinds of database are alike to the column.

-- ---------------------------------------------------------------------------------------
-- Catalog: advertisers, affiliates, offers and what hangs off them, links, API keys.
-- ---------------------------------------------------------------------------------------

CREATE TABLE advertisers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    postback_token   text NOT NULL UNIQUE,
    -- Optional extra checks on postbacks: source CIDRs and an HMAC secret.
    ip_allowlist     cidr[] NOT NULL DEFAULT '{}',
    signing_secret   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE affiliates (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email            text,
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'paused', 'archived')),
    postback_url     text,
    postback_method  text NOT NULL DEFAULT 'GET' CHECK (postback_method IN ('GET', 'POST')),
    -- 'approved': fire on approved conversions only; 'all': on every status change.
    postback_on      text NOT NULL DEFAULT 'approved' CHECK (postback_on IN ('approved', 'all')),
    signing_secret   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE offers (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    advertiser_id             bigint NOT NULL REFERENCES advertisers (id),
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url                       text NOT NULL,
    fallback_url              text,
    status                    text NOT NULL DEFAULT 'active'
                              CHECK (status IN ('active', 'paused', 'archived')),
    currency                  char(3) NOT NULL DEFAULT 'USD',
    attribution_window_hours  integer NOT NULL DEFAULT 720 CHECK (attribution_window_hours > 0),
    -- The rules of the main goal; other goals live in offer_goals.
    main_goal                 text NOT NULL DEFAULT 'conversion',
    revenue_type              text NOT NULL DEFAULT 'fixed'
                              CHECK (revenue_type IN ('fixed', 'percent')),
    revenue_value             numeric(18, 4) NOT NULL DEFAULT 0 CHECK (revenue_value >= 0),
    payout_type               text NOT NULL DEFAULT 'fixed'
                              CHECK (payout_type IN ('fixed', 'percent')),
    payout_value              numeric(18, 4) NOT NULL DEFAULT 0 CHECK (payout_value >= 0),
    -- Whether a postback's explicit `payout` parameter may override the rules.
    allow_payout_param        boolean NOT NULL DEFAULT false,
    main_goal_multiple        boolean NOT NULL DEFAULT false,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- Pixels: 'auto' counts them only when the advertiser neither signs its postbacks nor
    -- has an IP allowlist (a browser cannot pass either check); 'allow': always; 'deny':
    -- never. pixel_status is the status a pixel's conversion starts in.
    pixel_policy              text NOT NULL DEFAULT 'auto'
                              CHECK (pixel_policy IN ('auto', 'allow', 'deny')),
    pixel_status              text NOT NULL DEFAULT 'pending'
                              CHECK (pixel_status IN ('pending', 'approved')),
    -- NULL: no cap. A larger amount (postback or pixel) is stored rejected, reason 'amount'.
    max_amount                numeric(18, 4) CHECK (max_amount >= 0)
);
CREATE INDEX offers_advertiser_idx ON offers (advertiser_id);

CREATE TABLE offer_goals (
    offer_id       bigint NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    revenue_type   text NOT NULL CHECK (revenue_type IN ('fixed', 'percent')),
    revenue_value  numeric(18, 4) NOT NULL CHECK (revenue_value >= 0),
    payout_type    text NOT NULL CHECK (payout_type IN ('fixed', 'percent')),
    payout_value   numeric(18, 4) NOT NULL CHECK (payout_value >= 0),
    -- false: one conversion per click for this goal; true: recurring (many per click).
    allow_multiple boolean NOT NULL DEFAULT false,
    PRIMARY KEY (offer_id, name)
);

CREATE TABLE offer_payout_overrides (
    offer_id      bigint NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    affiliate_id  bigint NOT NULL REFERENCES affiliates (id),
    payout_type   text NOT NULL CHECK (payout_type IN ('fixed', 'percent')),
    payout_value  numeric(18, 4) NOT NULL CHECK (payout_value >= 0),
    PRIMARY KEY (offer_id, affiliate_id)
);

CREATE TABLE offer_caps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    offer_id      bigint NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    metric        text NOT NULL CHECK (metric IN ('clicks', 'conversions')),
    period        text NOT NULL CHECK (period IN ('day', 'month')),
    cap_limit     bigint NOT NULL CHECK (cap_limit > 0),
    affiliate_id  bigint REFERENCES affiliates (id)
);
CREATE INDEX offer_caps_offer_idx ON offer_caps (offer_id);

CREATE TABLE links (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code          text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{3,64}$'),
    affiliate_id  bigint NOT NULL REFERENCES affiliates (id),
    offer_id      bigint NOT NULL REFERENCES offers (id),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX links_affiliate_idx ON links (affiliate_id);
CREATE INDEX links_offer_idx ON links (offer_id);
-- The link caches load what changed since their last read (app/redirect/cache.py): links
-- by their own updated_at, and the links of offers and affiliates changed since.
CREATE INDEX links_updated_idx ON links (updated_at);

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- SHA-256 of the key: keys carry 256 random bits, so a fast hash is safe here.
    key_hash      bytea NOT NULL UNIQUE,
    prefix        text NOT NULL,
    name          text,
    role          text NOT NULL CHECK (role IN ('admin', 'affiliate')),
    affiliate_id  bigint REFERENCES affiliates (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CHECK ((role = 'affiliate') = (affiliate_id IS NOT NULL))
);

-- ---------------------------------------------------------------------------------------
-- Clicks, partitioned by day (app/clicks/).
-- ---------------------------------------------------------------------------------------

-- clicked_at is the time inside the UUIDv7 click_id, so the primary key
-- (click_id, clicked_at) makes click_id unique across partitions.
CREATE TABLE clicks (
    click_id         uuid NOT NULL,
    clicked_at       timestamptz NOT NULL,
    link_id          bigint NOT NULL,
    affiliate_id     bigint NOT NULL,
    offer_id         bigint NOT NULL,
    sub1 text, sub2 text, sub3 text, sub4 text, sub5 text,  -- the affiliate's sub-IDs
    source           text,
    aff_click_id     text,
    ip               inet,
    user_agent       text,
    referer          text,
    accept_language  text,
    country          char(2),
    device           text,
    os               text,
    browser          text,
    is_bot           boolean NOT NULL DEFAULT false,
    is_unique        boolean NOT NULL DEFAULT false,
    -- Why the visitor went to the fallback URL (paused, cap, archived), else NULL.
    diverted         text,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    -- The offer's currency when the click was made (the rollups' currency), so reports
    -- from raw clicks agree with the rollups after an offer changes currency. NULL on rows
    -- stored before migration 0002: readers fall back to the offer's currency.
    currency         char(3),
    PRIMARY KEY (click_id, clicked_at)
) PARTITION BY RANGE (clicked_at);
CREATE INDEX clicks_link_idx ON clicks (link_id, clicked_at);
-- Top sub-ID reports for one affiliate read raw clicks (sub-IDs have too many values for
-- a rollup): this index carries what they read, for index-only scans. sub1 holds up to
-- 4 kB of UTF-8, past btree's 2.7 kB limit on an index row, so it covers the clicks whose
-- sub1 is at most 1,000 bytes (nearly all) and a small plain index the others; reports
-- read the two as one (app/stats/queries.py, _CLICKS).
CREATE INDEX clicks_affiliate_sub1_idx ON clicks (affiliate_id, clicked_at)
    INCLUDE (sub1, is_bot, is_unique, currency, offer_id)
    WHERE coalesce(octet_length(sub1), 0) <= 1000;
CREATE INDEX clicks_affiliate_long_sub1_idx ON clicks (affiliate_id, clicked_at)
    WHERE coalesce(octet_length(sub1), 0) > 1000;

-- Creates the daily partitions of `clicks` for [start_day, start_day + days); the worker
-- calls it to keep partitions made ahead.
CREATE FUNCTION ensure_click_partitions(start_day date, days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    made integer := 0;
BEGIN
    FOR i IN 0 .. days - 1 LOOP
        d := start_day + i;
        IF to_regclass(format('clicks_%s', to_char(d, 'YYYYMMDD'))) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF clicks FOR VALUES FROM (%L) TO (%L)',
                'clicks_' || to_char(d, 'YYYYMMDD'),
                d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;

SELECT ensure_click_partitions((now() AT TIME ZONE 'UTC')::date - 1, 9);

-- ---------------------------------------------------------------------------------------
-- Conversions and their status history (app/attribution/, app/postbacks/).
-- ---------------------------------------------------------------------------------------

CREATE TABLE conversions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    advertiser_id   bigint NOT NULL REFERENCES advertisers (id),
    txid            text NOT NULL,
    click_id        uuid,
    clicked_at      timestamptz,
    link_id         bigint,
    affiliate_id    bigint,
    offer_id        bigint,
    goal            text NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('approved', 'pending', 'rejected', 'unattributed')),
    -- Why a conversion was rejected by the tracker itself (window, cap, duplicate).
    reason          text,
    amount          numeric(18, 4),
    -- The offer's currency, which revenue and payout are in.
    currency        char(3) NOT NULL,
    revenue         numeric(18, 4) NOT NULL DEFAULT 0,
    payout          numeric(18, 4) NOT NULL DEFAULT 0,
    sub1 text, sub2 text, sub3 text, sub4 text, sub5 text,  -- the click's sub-IDs
    source          text,
    aff_click_id    text,
    country         char(2),
    received_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- The click's user-agent dimensions, so that a later status change moves its rollup
    -- counts in the row the click and the first status went to, without looking the
    -- click up again in its day partition.
    device          text,
    os              text,
    browser         text,
    -- The currency the advertiser sent `amount` in.
    amount_currency char(3),
    -- When the advertiser sent the status in force (its receive time at intake). A status
    -- change is applied only when sent later than that, so postbacks that overtake each
    -- other (two workers, two stream shards, a retry) still end in the last status sent.
    status_at       timestamptz,
    -- Where the conversion came from: a server postback or a browser pixel.
    via             text NOT NULL DEFAULT 'postback' CHECK (via IN ('postback', 'pixel')),
    UNIQUE (advertiser_id, txid)
);
CREATE INDEX conversions_affiliate_idx ON conversions (affiliate_id, created_at);
CREATE INDEX conversions_offer_idx ON conversions (offer_id, created_at);
CREATE INDEX conversions_click_idx ON conversions (click_id, goal);
CREATE INDEX conversions_created_idx ON conversions (created_at, id);
-- Conversion caps count per offer (and affiliate) and period.
CREATE INDEX conversions_offer_affiliate_idx ON conversions (offer_id, affiliate_id, created_at);

CREATE TABLE conversion_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversion_id  bigint NOT NULL REFERENCES conversions (id),
    old_status     text,
    new_status     text NOT NULL,
    changed_by     text NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversion_history_conversion_idx ON conversion_history (conversion_id);

-- ---------------------------------------------------------------------------------------
-- Outbound postbacks to affiliates (app/sender/): one row per notification, one attempt
-- row per try.
-- ---------------------------------------------------------------------------------------

CREATE TABLE deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversion_id    bigint NOT NULL REFERENCES conversions (id),
    affiliate_id     bigint NOT NULL REFERENCES affiliates (id),
    conversion_status text NOT NULL,
    method           text NOT NULL CHECK (method IN ('GET', 'POST')),
    url              text NOT NULL,
    body             jsonb,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_affiliate_idx ON deliveries (affiliate_id, id);

CREATE TABLE delivery_attempts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id       bigint NOT NULL REFERENCES deliveries (id),
    attempted_at      timestamptz NOT NULL DEFAULT now(),
    status_code       integer,
    error             text,
    latency_ms        integer NOT NULL,
    response_snippet  text
);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id);

-- ---------------------------------------------------------------------------------------
-- Stats rollups (app/rollups/registry.py is their registry; tests/rollups/test_registry.py
-- checks this schema against it).
-- ---------------------------------------------------------------------------------------
-- Writers add deltas to stats_rollup only: 15-minute buckets (every UTC offset in use is
-- a multiple of 15 minutes, so any IANA zone aggregates exactly from them) with every
-- low-cardinality dimension. Statement triggers fan each write out to the coarser tiers
-- in the same transaction, so every tier stays an exact re-aggregation of its source.
-- DELETEs are not propagated on purpose: pruning old buckets keeps the coarser totals.
-- Every tier holds rows of (bucket, keys..., currency, amounts...), keyed by all but the
-- amounts; text keys are '' for "none".

-- The amounts every tier sums, in column order (registry.METRICS): copied into each
-- tier below by LIKE, and dropped once they are made.
CREATE TEMPORARY TABLE rollup_amounts (
    clicks                bigint NOT NULL DEFAULT 0,
    unique_clicks         bigint NOT NULL DEFAULT 0,
    bot_clicks            bigint NOT NULL DEFAULT 0,
    conversions           bigint NOT NULL DEFAULT 0,
    pending_conversions   bigint NOT NULL DEFAULT 0,
    rejected_conversions  bigint NOT NULL DEFAULT 0,
    revenue               numeric(20, 4) NOT NULL DEFAULT 0,
    payout                numeric(20, 4) NOT NULL DEFAULT 0
);

-- The base tier: 15 minutes, every dimension.
CREATE TABLE stats_rollup (
    bucket        timestamptz NOT NULL,
    affiliate_id  bigint NOT NULL,
    offer_id      bigint NOT NULL,
    link_id       bigint NOT NULL,
    country       text NOT NULL DEFAULT '',
    device        text NOT NULL DEFAULT '',
    os            text NOT NULL DEFAULT '',
    browser       text NOT NULL DEFAULT '',
    currency      char(3) NOT NULL DEFAULT 'USD',
    LIKE rollup_amounts INCLUDING DEFAULTS,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
);
CREATE INDEX stats_rollup_affiliate_idx ON stats_rollup (affiliate_id, bucket);

-- Hours and UTC days with country but no user-agent dimensions (exact for whole-hour and
-- UTC-offset zones).
CREATE TABLE stats_rollup_hourly (
    bucket        timestamptz NOT NULL,
    affiliate_id  bigint NOT NULL,
    offer_id      bigint NOT NULL,
    link_id       bigint NOT NULL,
    country       text NOT NULL DEFAULT '',
    currency      char(3) NOT NULL,
    LIKE rollup_amounts INCLUDING DEFAULTS,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, country, currency)
);
CREATE INDEX stats_rollup_hourly_affiliate_idx ON stats_rollup_hourly (affiliate_id, bucket);
CREATE TABLE stats_rollup_daily (LIKE stats_rollup_hourly INCLUDING ALL);

-- Links only (no country, no user agent): 15 minutes, for zones whose offset is not a
-- whole hour (Asia/Kolkata), and hours and days of it, the reports dashboards ask most.
CREATE TABLE stats_rollup_links (
    bucket        timestamptz NOT NULL,
    affiliate_id  bigint NOT NULL,
    offer_id      bigint NOT NULL,
    link_id       bigint NOT NULL,
    currency      char(3) NOT NULL,
    LIKE rollup_amounts INCLUDING DEFAULTS,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, currency)
);
CREATE INDEX stats_rollup_links_affiliate_idx ON stats_rollup_links (affiliate_id, bucket);
CREATE TABLE stats_rollup_links_hourly (LIKE stats_rollup_links INCLUDING ALL);
CREATE TABLE stats_rollup_daily_links (LIKE stats_rollup_links INCLUDING DEFAULTS);
ALTER TABLE stats_rollup_daily_links
    ADD PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, currency);
CREATE INDEX stats_rollup_daily_links_affiliate_idx
    ON stats_rollup_daily_links (affiliate_id, bucket);

-- Offer x country by UTC day: the network-wide "which offers convert where" report.
CREATE TABLE stats_rollup_daily_offer_country (
    bucket    timestamptz NOT NULL,
    offer_id  bigint NOT NULL,
    country   text NOT NULL,
    currency  char(3) NOT NULL,
    LIKE rollup_amounts INCLUDING DEFAULTS,
    PRIMARY KEY (bucket, offer_id, country, currency)
);

-- Network totals by 15 minutes (reports without any ID dimension, in any zone).
CREATE TABLE stats_rollup_totals (
    bucket    timestamptz NOT NULL,
    currency  char(3) NOT NULL,
    LIKE rollup_amounts INCLUDING DEFAULTS,
    PRIMARY KEY (bucket, currency)
);

DROP TABLE rollup_amounts;

-- The one fan-out function of every tier. TG_ARGV: target table, bucket width, key columns
-- between bucket and currency ('' for none), fixed by the triggers below, never by input.
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

-- Transition tables need one trigger per event (INSERT ... ON CONFLICT DO UPDATE fires
-- both: the inserted rows reach the first, the updated ones the second). One row per
-- tier with a source, as in registry.TIERS: trigger names, source, target, bucket width,
-- key columns between bucket and currency.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('stats_hourly', 'stats_rollup', 'stats_rollup_hourly', '1 hour',
         'affiliate_id, offer_id, link_id, country'),
        ('stats_daily', 'stats_rollup', 'stats_rollup_daily', '1 day',
         'affiliate_id, offer_id, link_id, country'),
        ('stats_daily_offer_country', 'stats_rollup', 'stats_rollup_daily_offer_country',
         '1 day', 'offer_id, country'),
        ('stats_links', 'stats_rollup', 'stats_rollup_links', '15 minutes',
         'affiliate_id, offer_id, link_id'),
        ('stats_rollup_links_hourly', 'stats_rollup_links', 'stats_rollup_links_hourly',
         '1 hour', 'affiliate_id, offer_id, link_id'),
        ('stats_rollup_daily_links', 'stats_rollup_links', 'stats_rollup_daily_links',
         '1 day', 'affiliate_id, offer_id, link_id'),
        ('stats_rollup_totals', 'stats_rollup_links', 'stats_rollup_totals', '15 minutes', '')
    ) AS tier (name, source, target, grain, keys)
    LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION stats_tier_fanout(%L, %L, %L)',
            t.name || '_insert', t.source, t.target, t.grain, t.keys);
        EXECUTE format(
            'CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows '
            'NEW TABLE AS new_rows '
            'FOR EACH STATEMENT EXECUTE FUNCTION stats_tier_fanout(%L, %L, %L)',
            t.name || '_update', t.source, t.target, t.grain, t.keys);
    END LOOP;
END $$;
