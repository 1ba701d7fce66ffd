-- E-mail (issue 15): the outbox the sender sends from, its attempts, the affiliates'
-- preferences, announcements and whom each was addressed to, and the unsubscribe key.

CREATE TABLE announcements (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject          text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
    body_markdown    text NOT NULL,
    body_html        text NOT NULL,
    body_text        text NOT NULL,
    -- all | group:<id> | tag:<tag> | offer:<id>, as given
    audience         text NOT NULL,
    author_key_id    bigint,
    recipients       integer NOT NULL DEFAULT 0,
    mailed           integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- The affiliates an announcement was addressed to when it was made (what their keys see).
CREATE TABLE announcement_recipients (
    announcement_id  bigint NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    affiliate_id     bigint NOT NULL REFERENCES affiliates (id) ON DELETE CASCADE,
    PRIMARY KEY (affiliate_id, announcement_id)
);

-- Opt-in lists: no row is every list off.
CREATE TABLE mail_preferences (
    affiliate_id     bigint PRIMARY KEY REFERENCES affiliates (id) ON DELETE CASCADE,
    announcements    boolean NOT NULL DEFAULT false,
    digest           boolean NOT NULL DEFAULT false,
    offer_changes    boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mail_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL,
    -- NULL with to_owner: the program owner (OWNER_EMAIL when it is sent)
    affiliate_id     bigint REFERENCES affiliates (id) ON DELETE CASCADE,
    to_owner         boolean NOT NULL DEFAULT false,
    announcement_id  bigint REFERENCES announcements (id) ON DELETE CASCADE,
    data             jsonb NOT NULL DEFAULT '{}',
    -- once-only mail (a cap per period, a digest per day): a second insert does nothing
    dedupe_key       text UNIQUE,
    message_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- the sender holding the row until next_attempt_at (its lease)
    leased_by        uuid,
    recipient        text,
    subject          text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    CHECK (to_owner = (affiliate_id IS NULL))
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_affiliate_idx ON mail_outbox (affiliate_id);

CREATE TABLE mail_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mail_id          bigint NOT NULL REFERENCES mail_outbox (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    smtp_code        integer,
    error            text
);
CREATE INDEX mail_attempts_mail_idx ON mail_attempts (mail_id);

-- The HMAC key of unsubscribe tokens: made by the first process that needs it.
CREATE TABLE mail_signing_key (
    id               boolean PRIMARY KEY DEFAULT true CHECK (id),
    secret           bytea NOT NULL
);
