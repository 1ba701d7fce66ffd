COLUMNS = "id, code, affiliate_id, offer_id, status, created_at, updated_at"

INSERT = f"""
INSERT INTO links (code, affiliate_id, offer_id) VALUES ($1, $2, $3)
ON CONFLICT (code) DO NOTHING
RETURNING {COLUMNS}
"""
GET = f"SELECT {COLUMNS} FROM links WHERE id = $1"
LIST = f"""
SELECT {COLUMNS} FROM links
WHERE id > $1 AND ($3::bigint IS NULL OR affiliate_id = $3)
  AND ($4::bigint IS NULL OR offer_id = $4) AND ($5::text IS NULL OR status = $5)
ORDER BY id LIMIT $2
"""
SET_STATUS = f"""
UPDATE links SET status = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}
"""
