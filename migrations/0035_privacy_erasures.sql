-- What each erasure of personal data was asked for, by which key, and how many rows or
-- records it changed in each holder (app/privacy/holders.py). `subject` never holds the
-- erased value itself when that is personal: an IP address is kept as the network that
-- IP_ANONYMIZE would keep (a /24 or /48), a click or customer ID as it was given.
CREATE TABLE privacy_erasures (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('click_id', 'ip', 'customer_id')),
    subject       text NOT NULL,
    -- The API key that asked (NULL: the ADMIN_API_KEY setting, which has no row).
    key_id        bigint REFERENCES api_keys (id),
    counts        jsonb NOT NULL,
    requested_at  timestamptz NOT NULL,
    finished_at   timestamptz NOT NULL DEFAULT now()
);
