"""The SQL of e-mail: the outbox, its sender, preferences, announcements, the digest."""

from app.pagination import page_sql

# --- writing the outbox (in the caller's transaction) ----------------------------------

# One affiliate, if it has an address and, for a list kind ($6 names the preference
# column), is on that list. A taken dedupe_key inserts nothing.
ENQUEUE_AFFILIATE = """
INSERT INTO mail_outbox (kind, affiliate_id, data, dedupe_key)
SELECT $1, a.id, $3::jsonb, $4
FROM affiliates a LEFT JOIN mail_preferences p ON p.affiliate_id = a.id
WHERE a.id = $2 AND a.email IS NOT NULL AND a.email <> ''
  AND ($5::text IS NULL OR coalesce((to_jsonb(p) ->> $5)::boolean, false))
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
ENQUEUE_OWNER = """
INSERT INTO mail_outbox (kind, to_owner, data, dedupe_key) VALUES ($1, true, $2::jsonb, $3)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
# A portal user (an invite, a password reset link): always sent, never deduplicated.
ENQUEUE_USER = """
INSERT INTO mail_outbox (kind, user_id, data) SELECT $1, u.id, $3::jsonb
FROM users u WHERE u.id = $2
RETURNING id
"""
# Every active affiliate with a link on offer $2 that is on the offer_changes list.
ENQUEUE_OFFER_AFFILIATES = """
INSERT INTO mail_outbox (kind, affiliate_id, data, dedupe_key)
SELECT $1, a.id, $3::jsonb, CASE WHEN $4::text IS NULL THEN NULL ELSE $4 || ':' || a.id END
FROM affiliates a JOIN mail_preferences p ON p.affiliate_id = a.id AND p.offer_changes
WHERE a.status = 'active' AND a.email IS NOT NULL AND a.email <> ''
  AND EXISTS (SELECT 1 FROM links l WHERE l.offer_id = $2 AND l.affiliate_id = a.id)
ON CONFLICT (dedupe_key) DO NOTHING
"""
OFFER_NAMES = "SELECT id, name FROM offers WHERE id = ANY($1::bigint[])"
GROUP_NAMES = "SELECT id, name FROM commission_groups WHERE id = ANY($1::bigint[])"
AFFILIATE_CONTACT = "SELECT id, name, email, website FROM affiliates WHERE id = $1"
# Conversion caps of these offers, per (offer, affiliate): whether one is a day cap.
CAP_PERIODS = """
SELECT offer_id, metric, bool_or(period = 'day') AS has_day
FROM offer_caps WHERE offer_id = ANY($1::bigint[]) GROUP BY offer_id, metric
"""

# --- the sender ------------------------------------------------------------------------

# Due rows, leased to sender $3 for $2: no other sender takes them meanwhile.
CLAIM = """
WITH due AS (
    SELECT id FROM mail_outbox
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE mail_outbox m SET next_attempt_at = now() + $2::interval, leased_by = $3
    FROM due WHERE m.id = due.id
    RETURNING m.id, m.kind, m.affiliate_id, m.user_id, m.to_owner, m.announcement_id, m.data,
        m.message_id, m.attempts
)
SELECT c.*, coalesce(u.name, a.name) AS affiliate_name,
    coalesce(u.email, a.email) AS affiliate_email, to_jsonb(p) AS preferences,
    an.subject AS announcement_subject, an.body_html AS announcement_html,
    an.body_text AS announcement_text
FROM claimed c
LEFT JOIN affiliates a ON a.id = c.affiliate_id
LEFT JOIN users u ON u.id = c.user_id
LEFT JOIN mail_preferences p ON p.affiliate_id = c.affiliate_id
LEFT JOIN announcements an ON an.id = c.announcement_id
ORDER BY c.id
"""
# Each write below is by the lease holder only: a sender whose lease ran out changes
# nothing (the row is someone else's now).
MARK_SENT = """
WITH m AS (
    UPDATE mail_outbox SET status = 'sent', attempts = attempts + 1, sent_at = now(),
        recipient = $3, subject = $4, last_error = NULL, leased_by = NULL
    WHERE id = $1 AND leased_by = $2 RETURNING id
)
INSERT INTO mail_attempts (mail_id, smtp_code) SELECT id, 250 FROM m
"""
MARK_FAILED_TRY = """
WITH m AS (
    UPDATE mail_outbox SET status = $3, attempts = attempts + 1,
        next_attempt_at = coalesce($4, next_attempt_at), last_error = $6,
        recipient = $7, subject = $8, leased_by = NULL
    WHERE id = $1 AND leased_by = $2 RETURNING id
)
INSERT INTO mail_attempts (mail_id, smtp_code, error) SELECT id, $5, $6 FROM m
"""
MARK_SKIPPED = """
UPDATE mail_outbox SET status = 'skipped', last_error = $3, leased_by = NULL
WHERE id = $1 AND leased_by = $2
"""
# A batch the sender could not send at all (SMTP down): back with its lease given up.
RELEASE = """
UPDATE mail_outbox SET next_attempt_at = now(), leased_by = NULL
WHERE id = ANY($1::bigint[]) AND leased_by = $2
"""
ENSURE_SIGNING_KEY = """
INSERT INTO mail_signing_key (secret) VALUES ($1) ON CONFLICT (id) DO NOTHING
"""
SIGNING_KEY = "SELECT secret FROM mail_signing_key"

MAIL_COLUMNS = """id, kind, affiliate_id, to_owner, announcement_id, status, attempts,
next_attempt_at, recipient, subject, last_error, created_at, sent_at"""
GET_MAIL = f"SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1"
MAIL_TRIES = """
SELECT id, attempted_at, smtp_code, error FROM mail_attempts WHERE mail_id = $1 ORDER BY id
"""
LIST_MAIL = page_sql(
    f"SELECT {MAIL_COLUMNS} FROM mail_outbox", "affiliate_id in bigint[], status = text"
)

# --- preferences -----------------------------------------------------------------------

GET_PREFERENCES = """
SELECT a.id AS affiliate_id, coalesce(p.announcements, false) AS announcements,
    coalesce(p.digest, false) AS digest, coalesce(p.offer_changes, false) AS offer_changes
FROM affiliates a LEFT JOIN mail_preferences p ON p.affiliate_id = a.id
WHERE a.id = $1
"""
PUT_PREFERENCES = """
INSERT INTO mail_preferences (affiliate_id, announcements, digest, offer_changes)
VALUES ($1, $2, $3, $4)
ON CONFLICT (affiliate_id) DO UPDATE SET announcements = $2, digest = $3,
    offer_changes = $4, updated_at = now()
"""
# One list off ($2 is a column name checked against LISTS by the caller).
UNSUBSCRIBE = """
INSERT INTO mail_preferences (affiliate_id) SELECT id FROM affiliates WHERE id = $1
ON CONFLICT (affiliate_id) DO UPDATE SET {column} = false, updated_at = now()
RETURNING affiliate_id
"""

# --- announcements ---------------------------------------------------------------------

GROUP_EXISTS = "SELECT EXISTS (SELECT 1 FROM commission_groups WHERE id = $1)"
OFFER_EXISTS = "SELECT EXISTS (SELECT 1 FROM offers WHERE id = $1)"
# Active affiliates in the audience: $1 kind (all | group | tag | offer), $2 its value.
AUDIENCE = """
SELECT a.id FROM affiliates a
WHERE a.status = 'active' AND CASE $1::text
    WHEN 'all' THEN true
    WHEN 'group' THEN a.group_id = $2::bigint
    WHEN 'tag' THEN $3::text = ANY(a.tags)
    WHEN 'offer' THEN EXISTS (
        SELECT 1 FROM links l WHERE l.offer_id = $2::bigint AND l.affiliate_id = a.id)
END
ORDER BY a.id
"""
ANNOUNCEMENT_COLUMNS = """id, subject, body_markdown, body_html, body_text, audience,
author_key_id, recipients, mailed, created_at"""
INSERT_ANNOUNCEMENT = f"""
INSERT INTO announcements (subject, body_markdown, body_html, body_text, audience,
    author_key_id)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING {ANNOUNCEMENT_COLUMNS}
"""
INSERT_RECIPIENTS = """
INSERT INTO announcement_recipients (announcement_id, affiliate_id)
SELECT $1, unnest($2::bigint[])
"""
# The mail of announcement $1: its recipients on the announcements list, with an address.
ENQUEUE_ANNOUNCEMENT = """
INSERT INTO mail_outbox (kind, affiliate_id, announcement_id)
SELECT 'announcement', r.affiliate_id, r.announcement_id
FROM announcement_recipients r
JOIN affiliates a ON a.id = r.affiliate_id AND a.email IS NOT NULL AND a.email <> ''
JOIN mail_preferences p ON p.affiliate_id = r.affiliate_id AND p.announcements
WHERE r.announcement_id = $1
"""
SET_COUNTS = f"""
UPDATE announcements SET recipients = $2, mailed = $3 WHERE id = $1
RETURNING {ANNOUNCEMENT_COLUMNS}
"""
LIST_ANNOUNCEMENTS = f"""
SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements an
WHERE id > $1 AND ($3::bigint IS NULL OR EXISTS (
    SELECT 1 FROM announcement_recipients r
    WHERE r.announcement_id = an.id AND r.affiliate_id = $3))
ORDER BY id LIMIT $2
"""
GET_ANNOUNCEMENT = f"""
SELECT {ANNOUNCEMENT_COLUMNS} FROM announcements an
WHERE id = $1 AND ($2::bigint IS NULL OR EXISTS (
    SELECT 1 FROM announcement_recipients r
    WHERE r.announcement_id = an.id AND r.affiliate_id = $2))
"""

# --- the daily digest ------------------------------------------------------------------

# Per affiliate on the digest list: approved conversions of UTC day $1 and their payout
# per currency, from the daily rollups (the numbers /stats shows). One row per affiliate
# and day (dedupe_key), so running it again adds nothing.
ENQUEUE_DIGESTS = """
INSERT INTO mail_outbox (kind, affiliate_id, data, dedupe_key)
SELECT 'digest', s.affiliate_id,
    jsonb_build_object('day', $2::text, 'conversions', s.conversions, 'payout', s.payout),
    'digest:' || $2::text || ':' || s.affiliate_id
FROM (
    SELECT r.affiliate_id, sum(r.conversions)::bigint AS conversions,
        jsonb_object_agg(r.currency, r.payout) AS payout
    FROM (
        SELECT affiliate_id, currency, sum(conversions) AS conversions,
            sum(payout)::text AS payout
        FROM stats_rollup_daily_links WHERE bucket = $1
        GROUP BY affiliate_id, currency HAVING sum(conversions) > 0
    ) r
    GROUP BY r.affiliate_id
) s
JOIN affiliates a ON a.id = s.affiliate_id AND a.email IS NOT NULL AND a.email <> ''
JOIN mail_preferences p ON p.affiliate_id = s.affiliate_id AND p.digest
ON CONFLICT (dedupe_key) DO NOTHING
"""
