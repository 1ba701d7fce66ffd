-- CRM integrations (app/integrations/): a CRM's deal stages become conversions.
-- `secret` is the HMAC key the CRM signs with (HubSpot: the app's client secret;
-- Salesforce and generic: X-Tracker-Signature), write-only through the API like
-- advertisers.signing_secret; a Zoho integration's token is kept only as its SHA-256.
CREATE TABLE integrations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider       text NOT NULL CHECK (provider IN ('hubspot', 'salesforce', 'zoho', 'generic')),
    -- An advertiser or offer removed (nothing else referred to it) takes its integrations
    -- or their offer along.
    advertiser_id  bigint NOT NULL REFERENCES advertisers (id) ON DELETE CASCADE,
    offer_id       bigint REFERENCES offers (id) ON DELETE SET NULL,
    name           text CHECK (length(name) BETWEEN 1 AND 200),
    status         text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    secret         text,
    token_hash     bytea,
    stage_map      jsonb NOT NULL,
    field_map      jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((provider = 'zoho') = (token_hash IS NOT NULL)),
    CHECK ((provider = 'zoho') = (secret IS NULL))
);
CREATE INDEX integrations_advertiser_idx ON integrations (advertiser_id);

-- Signed calls already accepted, while their signature is young enough to be taken:
-- an exact replay within the window is refused (the txid dedupe holds anyway).
CREATE TABLE integration_requests (
    integration_id  bigint NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    digest          bytea NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (integration_id, digest)
);
