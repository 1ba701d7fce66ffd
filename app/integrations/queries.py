from app.pagination import page_sql

COLUMNS = """id, provider, advertiser_id, offer_id, name, status, stage_map, field_map,
(secret IS NOT NULL OR token_hash IS NOT NULL) AS secret_set, created_at, updated_at"""

INSERT = f"""
INSERT INTO integrations (id, provider, advertiser_id, offer_id, name, secret, token_hash,
                          stage_map, field_map)
OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)
RETURNING {COLUMNS}
"""

# The id an integration will have: its key is sealed with it before the INSERT.
NEXT_ID = "SELECT nextval(pg_get_serial_sequence('integrations', 'id'))"
LIST = page_sql(f"SELECT {COLUMNS} FROM integrations", "advertiser_id = bigint")

GET = f"SELECT {COLUMNS} FROM integrations WHERE id = $1"

DELETE = "DELETE FROM integrations WHERE id = $1 RETURNING id"

# What an inbound call needs, with its advertiser's status in the same read.
INBOUND = """
SELECT i.id, i.provider, i.advertiser_id, i.offer_id, i.status, i.secret, i.token_hash,
       i.stage_map, i.field_map, a.status AS advertiser_status
FROM integrations i JOIN advertisers a ON a.id = i.advertiser_id
WHERE i.id = $1
"""

# Whether the advertiser exists, and whether the offer (if any) is one of its own.
OWNER = """
SELECT a.status AS advertiser_status,
       (SELECT o.advertiser_id FROM offers o WHERE o.id = $2) AS offer_advertiser_id
FROM advertisers a WHERE a.id = $1
"""

# An accepted signed call, remembered while its signature could still be taken; NULL
# when it was seen before. Expired rows of the integration go in the same statement.
REMEMBER_CALL = """
WITH expired AS (
    DELETE FROM integration_requests WHERE integration_id = $1 AND expires_at < now()
)
INSERT INTO integration_requests (integration_id, digest, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
ON CONFLICT DO NOTHING
RETURNING 1
"""

FORGET_CALL = "DELETE FROM integration_requests WHERE integration_id = $1 AND digest = $2"
