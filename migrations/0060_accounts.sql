-- The portal's accounts (issue 16): people who sign in, their sessions, and the
-- single-use links (invites, password resets) mailed to them.

CREATE TABLE users (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name             text,
    role             text NOT NULL CHECK (role IN ('owner', 'manager', 'affiliate')),
    -- an affiliate user acts for this affiliate only
    affiliate_id     bigint REFERENCES affiliates (id) ON DELETE CASCADE,
    -- an owner's or manager's identity key: an admin key, revoked when made (it never
    -- authenticates), that names the user in affiliates.manager_id and in the records of
    -- the changes they make (actor admin:<key_id>), as any admin key does
    key_id           bigint UNIQUE REFERENCES api_keys (id),
    -- argon2id (PHC string); NULL until the invite link sets it
    password_hash    text,
    time_zone        text NOT NULL DEFAULT 'UTC',
    disabled_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text NOT NULL,
    CHECK ((role = 'affiliate') = (affiliate_id IS NOT NULL)),
    CHECK ((role = 'affiliate') = (key_id IS NULL))
);
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));
CREATE INDEX users_affiliate_idx ON users (affiliate_id) WHERE affiliate_id IS NOT NULL;

-- Only a hash of the cookie's token is stored: a copy of this table signs nobody in.
CREATE TABLE user_sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash       bytea NOT NULL UNIQUE,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token       text NOT NULL,
    ip               text,
    user_agent       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX user_sessions_user_idx ON user_sessions (user_id);
CREATE INDEX user_sessions_expiry_idx ON user_sessions (expires_at);

-- An invite (sets the first password) or a password reset: its hash, used once.
CREATE TABLE user_tokens (
    token_hash       bytea PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose          text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);

-- Mail to a user (an invite, a reset link): addressed to the user, not to an affiliate.
ALTER TABLE mail_outbox ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_one_recipient
    CHECK (num_nonnulls(affiliate_id, user_id) + to_owner::int = 1);
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id) WHERE user_id IS NOT NULL;
