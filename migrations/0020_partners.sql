-- Partner management (issue 14, first half): the affiliate lifecycle with its history,
-- the profile (payment details encrypted by the app, AES-GCM), admin notes and commission
-- groups. Affiliates are a small table (thousands of rows), so the status rewrite and the
-- new columns run in this one transaction.

CREATE TABLE commission_groups (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                   text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- Higher is better: evaluation moves an affiliate to the highest rank it qualifies for.
    rank                   integer NOT NULL UNIQUE,
    default_type           text CHECK (default_type IN ('fixed', 'percent')),
    default_value          numeric(18, 4) CHECK (default_value >= 0),
    promotion_metric       text CHECK (promotion_metric IN
                               ('approved_conversions', 'revenue', 'payout', 'clicks')),
    promotion_window_days  integer CHECK (promotion_window_days BETWEEN 1 AND 366),
    promotion_min          numeric(20, 4) CHECK (promotion_min >= 0),
    -- The currency revenue and payout are summed in (money is never converted).
    promotion_currency     text,
    promotion_demote       boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((default_type IS NULL) = (default_value IS NULL)),
    CHECK ((promotion_metric IS NULL) = (promotion_window_days IS NULL)
        AND (promotion_metric IS NULL) = (promotion_min IS NULL))
);

CREATE TABLE group_payout_rules (
    group_id      bigint NOT NULL REFERENCES commission_groups (id) ON DELETE CASCADE,
    offer_id      bigint NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    payout_type   text NOT NULL CHECK (payout_type IN ('fixed', 'percent')),
    payout_value  numeric(18, 4) NOT NULL CHECK (payout_value >= 0),
    PRIMARY KEY (group_id, offer_id)
);

ALTER TABLE affiliates DROP CONSTRAINT affiliates_status_check;
UPDATE affiliates SET status = 'suspended', updated_at = now() WHERE status = 'paused';
ALTER TABLE affiliates
    ADD CONSTRAINT affiliates_status_check
        CHECK (status IN ('applied', 'active', 'rejected', 'suspended', 'archived')) NOT VALID,
    ADD COLUMN company          text CHECK (length(company) <= 200),
    ADD COLUMN website          text CHECK (length(website) <= 2048),
    ADD COLUMN country          text CHECK (country ~ '^[A-Z]{2}$'),
    -- {"channel", "handle"}
    ADD COLUMN contact          jsonb,
    -- AES-GCM (app.partners.payment): key version byte, 12-byte nonce, ciphertext of the
    -- JSON details; the masked copy is what every read shows, so reads need no key.
    ADD COLUMN payment_encrypted bytea,
    ADD COLUMN payment_masked   jsonb,
    ADD COLUMN tags             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN manager_id       bigint REFERENCES api_keys (id),
    ADD COLUMN group_id         bigint REFERENCES commission_groups (id),
    -- What a POST /apply said: traffic_sources, message, terms_version, applied_at.
    ADD COLUMN application      jsonb;
ALTER TABLE affiliates VALIDATE CONSTRAINT affiliates_status_check;
CREATE INDEX affiliates_email_lower_idx ON affiliates (lower(email));
CREATE INDEX affiliates_group_idx ON affiliates (group_id);

-- Every status change and group move, append-only.
CREATE TABLE affiliate_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    affiliate_id  bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('status', 'group')),
    -- A status, or a group id as text (NULL: no group).
    from_value    text,
    to_value      text,
    -- 'admin' (a key, or ADMIN_API_KEY when actor_key_id is NULL), 'affiliate', 'apply',
    -- 'system' (group evaluation).
    actor_role    text NOT NULL CHECK (actor_role IN ('admin', 'affiliate', 'apply', 'system')),
    actor_key_id  bigint REFERENCES api_keys (id),
    reason        text CHECK (length(reason) <= 2000),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_history_affiliate_idx ON affiliate_history (affiliate_id, id);

CREATE TABLE affiliate_notes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    affiliate_id   bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    author_key_id  bigint REFERENCES api_keys (id),
    text           text NOT NULL CHECK (length(text) BETWEEN 1 AND 10000),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX affiliate_notes_affiliate_idx ON affiliate_notes (affiliate_id, id);
