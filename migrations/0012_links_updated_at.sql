-- The link caches load what changed since their last read (app/redirect/cache.py): links
-- by their own updated_at, and the links of offers and affiliates changed since.
CREATE INDEX links_updated_idx ON links (updated_at);
