-- The whole data model of DESIGN.md. Money is NUMERIC, never float; times are timestamptz.

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
    revenue_type              text NOT NULL DEFAULT 'fixed' CHECK (revenue_type IN ('fixed', 'percent')),
    revenue_value             numeric(18, 4) NOT NULL DEFAULT 0 CHECK (revenue_value >= 0),
    payout_type               text NOT NULL DEFAULT 'fixed' CHECK (payout_type IN ('fixed', 'percent')),
    payout_value              numeric(18, 4) NOT NULL DEFAULT 0 CHECK (payout_value >= 0),
    -- Whether a postback's explicit `payout` parameter may override the rules.
    allow_payout_param        boolean NOT NULL DEFAULT false,
    main_goal_multiple        boolean NOT NULL DEFAULT false,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
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

-- Clicks, partitioned by day. clicked_at is the time inside the UUIDv7 click_id, so
-- the primary key (click_id, clicked_at) makes click_id unique across partitions.
CREATE TABLE clicks (
    click_id         uuid NOT NULL,
    clicked_at       timestamptz NOT NULL,
    link_id          bigint NOT NULL,
    affiliate_id     bigint NOT NULL,
    offer_id         bigint NOT NULL,
    sub1             text,
    sub2             text,
    sub3             text,
    sub4             text,
    sub5             text,
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
    PRIMARY KEY (click_id, clicked_at)
) PARTITION BY RANGE (clicked_at);
CREATE INDEX clicks_link_idx ON clicks (link_id, clicked_at);
CREATE INDEX clicks_affiliate_idx ON clicks (affiliate_id, clicked_at);

-- Creates the daily partitions of `clicks` for [start_day, start_day + days).
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
    currency        char(3) NOT NULL,
    revenue         numeric(18, 4) NOT NULL DEFAULT 0,
    payout          numeric(18, 4) NOT NULL DEFAULT 0,
    sub1            text,
    sub2            text,
    sub3            text,
    sub4            text,
    sub5            text,
    source          text,
    aff_click_id    text,
    country         char(2),
    received_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (advertiser_id, txid)
);
CREATE INDEX conversions_affiliate_idx ON conversions (affiliate_id, created_at);
CREATE INDEX conversions_offer_idx ON conversions (offer_id, created_at);
CREATE INDEX conversions_click_idx ON conversions (click_id, goal);
CREATE INDEX conversions_created_idx ON conversions (created_at, id);

CREATE TABLE conversion_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversion_id  bigint NOT NULL REFERENCES conversions (id),
    old_status     text,
    new_status     text NOT NULL,
    changed_by     text NOT NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversion_history_conversion_idx ON conversion_history (conversion_id);

-- Rollups in 15-minute buckets: every UTC offset in use is a multiple of 15 minutes,
-- so any IANA zone (Asia/Kolkata, Asia/Kathmandu) aggregates exactly from them.
CREATE TABLE stats_rollup (
    bucket                timestamptz NOT NULL,
    affiliate_id          bigint NOT NULL,
    offer_id              bigint NOT NULL,
    link_id               bigint NOT NULL,
    country               text NOT NULL DEFAULT '',
    device                text NOT NULL DEFAULT '',
    os                    text NOT NULL DEFAULT '',
    browser               text NOT NULL DEFAULT '',
    currency              char(3) NOT NULL DEFAULT 'USD',
    clicks                bigint NOT NULL DEFAULT 0,
    unique_clicks         bigint NOT NULL DEFAULT 0,
    bot_clicks            bigint NOT NULL DEFAULT 0,
    conversions           bigint NOT NULL DEFAULT 0,
    pending_conversions   bigint NOT NULL DEFAULT 0,
    rejected_conversions  bigint NOT NULL DEFAULT 0,
    revenue               numeric(20, 4) NOT NULL DEFAULT 0,
    payout                numeric(20, 4) NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
);
CREATE INDEX stats_rollup_affiliate_idx ON stats_rollup (affiliate_id, bucket);

-- Outbound postbacks to affiliates: one row per notification, one attempt row per try.
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
