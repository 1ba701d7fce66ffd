"""SQL of the webhook endpoints, and of the webhook rows they put in the sender's outbox."""

from app.pagination import page_sql

COLUMNS = """id, url, events, description, affiliate_id, status, consecutive_failures,
failing_since, disabled_reason, disabled_at, created_at, updated_at"""

INSERT = f"""
INSERT INTO webhooks (id, url, events, description, affiliate_id, secret)
OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)
RETURNING {COLUMNS}
"""
# The id an endpoint will have: its secret is sealed with it before the INSERT.
NEXT_ID = "SELECT nextval(pg_get_serial_sequence('webhooks', 'id'))"
LIST = page_sql(f"SELECT {COLUMNS} FROM webhooks", "affiliate_id in bigint[]")
GET = f"SELECT {COLUMNS} FROM webhooks WHERE id = $1"
COUNT_OF_AFFILIATE = "SELECT count(*) FROM webhooks WHERE affiliate_id = $1"
GET_FOR_UPDATE = f"SELECT {COLUMNS} FROM webhooks WHERE id = $1 FOR UPDATE"
ROTATE = f"""
UPDATE webhooks SET previous_secret = secret, previous_secret_until = now() + $3::interval,
    secret = $2, updated_at = now()
WHERE id = $1 RETURNING {COLUMNS}
"""
# Enabling again starts a new count of failures.
SET_STATUS = """
UPDATE webhooks SET status = $2, updated_at = now(),
    consecutive_failures = CASE WHEN $2 = 'enabled' THEN 0 ELSE consecutive_failures END,
    failing_since = CASE WHEN $2 = 'enabled' THEN NULL ELSE failing_since END,
    disabled_reason = CASE WHEN $2 = 'enabled' THEN NULL ELSE $3 END,
    disabled_at = CASE WHEN $2 = 'enabled' THEN NULL ELSE now() END
WHERE id = $1 AND status <> $2
"""
DELETE = "DELETE FROM webhooks WHERE id = $1"
# Pending tries follow the endpoint to its new URL.
MOVE_PENDING = """
UPDATE deliveries SET url = $2 WHERE webhook_id = $1 AND status = 'pending'
"""
FAIL_PENDING = """
UPDATE deliveries SET status = 'failed', last_error = $2
WHERE webhook_id = $1 AND status = 'pending'
"""

# Which event types enabled endpoints subscribe to: whether a program endpoint does, and
# which affiliates' endpoints do (a few rows: one per type).
SUBSCRIBED = """
SELECT type, bool_or(affiliate_id IS NULL) AS program,
    coalesce(array_agg(DISTINCT affiliate_id) FILTER (WHERE affiliate_id IS NOT NULL), '{}')
        AS affiliates
FROM webhooks, unnest(events) AS type
WHERE status = 'enabled' AND type = ANY($1::text[])
GROUP BY type
"""
# One statement per batch of events: a deliveries row for every enabled endpoint
# subscribed to the event's type and allowed to hear of it. A program-wide endpoint
# (no affiliate_id) hears of everything with the full data; an affiliate's endpoint of
# its own events, and of offer events on offers it has a link to, with the stripped data
# (none: not for affiliates at all).
FAN_OUT = """
INSERT INTO deliveries (kind, webhook_id, affiliate_id, event_id, event_type, method, url, body)
SELECT 'webhook', w.id, w.affiliate_id, e.event_id, e.type, 'POST', w.url,
    (CASE WHEN w.affiliate_id IS NULL THEN e.body ELSE e.affiliate_body END)::jsonb
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[])
    AS e(event_id, type, affiliate_id, offer_id, body, affiliate_body)
JOIN webhooks w ON w.status = 'enabled' AND e.type = ANY(w.events)
WHERE w.affiliate_id IS NULL
    OR (e.affiliate_body IS NOT NULL AND (
        w.affiliate_id = e.affiliate_id
        OR (e.affiliate_id IS NULL AND e.offer_id IS NOT NULL AND EXISTS (
            SELECT FROM links l WHERE l.offer_id = e.offer_id AND l.affiliate_id = w.affiliate_id
        ))))
"""
# One endpoint only, whatever it subscribes to (the test event).
INSERT_ONE = """
INSERT INTO deliveries (kind, webhook_id, affiliate_id, event_id, event_type, method, url, body)
SELECT 'webhook', w.id, w.affiliate_id, $2, $3, 'POST', w.url, $4::text::jsonb
FROM webhooks w WHERE w.id = $1
RETURNING id
"""

# The health of an endpoint after a try (see app/webhooks/health.py). Before a batch of
# tries: the endpoints it changes (a failure to count, or a count to reset), locked in
# ID order.
LOCK_FOR_TRIES = """
SELECT id FROM webhooks
WHERE id = ANY($1::bigint[]) AND (id = ANY($2::bigint[]) OR consecutive_failures > 0)
ORDER BY id FOR UPDATE
"""
RESET_FAILURES = """
UPDATE webhooks SET consecutive_failures = 0, failing_since = NULL
WHERE id = $1 AND consecutive_failures > 0
"""
COUNT_FAILURE = """
UPDATE webhooks SET consecutive_failures = consecutive_failures + 1,
    failing_since = coalesce(failing_since, now())
WHERE id = $1 AND status = 'enabled'
RETURNING consecutive_failures, now() - failing_since AS failing_for
"""
DISABLE = f"""
UPDATE webhooks SET status = 'disabled', disabled_reason = $2, disabled_at = now(),
    updated_at = now()
WHERE id = $1 AND status = 'enabled'
RETURNING {COLUMNS}
"""

# offer.cap_reached: the first of a cap's period claims it.
CLAIM_CAP_ALERTS = """
INSERT INTO offer_cap_alerts (cap_id, period_start)
SELECT * FROM unnest($1::bigint[], $2::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING cap_id, period_start
"""
