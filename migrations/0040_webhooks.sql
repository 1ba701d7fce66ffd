-- Webhook endpoints (app/webhooks) and their deliveries: a new kind of row in the
-- sender's deliveries table, so they share its engine, retries, fairness and log.
CREATE TABLE webhooks (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                  text NOT NULL,
    events               text[] NOT NULL CHECK (cardinality(events) > 0),
    description          text NOT NULL DEFAULT '',
    -- An affiliate's own endpoint: only its events, stripped of revenue and customer IDs.
    affiliate_id         bigint REFERENCES affiliates (id),
    -- `whsec_<base64>`, kept as is: the sender needs it to sign (a hash would not do).
    -- Only the sender reads it; the API shows it once, on create and on rotate.
    secret               text NOT NULL,
    -- After a rotation, tries are signed with the previous secret too, for a day, so
    -- receivers can switch over (webhook-signature holds both).
    previous_secret      text,
    previous_secret_until timestamptz,
    status               text NOT NULL DEFAULT 'enabled'
                         CHECK (status IN ('enabled', 'disabled')),
    -- The current run of failed attempts, for the automatic disabling.
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since        timestamptz,
    disabled_reason      text,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_affiliate_idx ON webhooks (affiliate_id);

-- Metadata-only changes: no rewrite, no scan of the deliveries table.
ALTER TABLE deliveries
    ALTER COLUMN conversion_id DROP NOT NULL,
    ALTER COLUMN affiliate_id DROP NOT NULL,
    ALTER COLUMN conversion_status DROP NOT NULL,
    ADD COLUMN kind text NOT NULL DEFAULT 'postback',
    ADD COLUMN webhook_id bigint REFERENCES webhooks (id) ON DELETE SET NULL,
    -- The Standard Webhooks message ID (the `webhook-id` header), the same on every try.
    ADD COLUMN event_id text,
    ADD COLUMN event_type text;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_kind_check CHECK (
    (kind = 'postback' AND conversion_id IS NOT NULL AND affiliate_id IS NOT NULL
        AND conversion_status IS NOT NULL)
    OR (kind = 'webhook' AND event_id IS NOT NULL AND event_type IS NOT NULL)
) NOT VALID;

-- offer.cap_reached goes out once per cap and period: the first refusal claims its row.
CREATE TABLE offer_cap_alerts (
    cap_id        bigint NOT NULL,
    period_start  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cap_id, period_start)
);
