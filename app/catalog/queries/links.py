from app.pagination import page_sql

COLUMNS = "id, code, affiliate_id, offer_id, status, created_at, updated_at"

INSERT = f"""
INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3)
ON CONFLICT (code) DO NOTHING
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM links WHERE id = $1"
LIST = page_sql(
    f"SELECT {COLUMNS} FROM links", "affiliate_id = bigint, offer_id = bigint, status = text"
)
SET_STATUS = f"""
UPDATE links SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}
"""
