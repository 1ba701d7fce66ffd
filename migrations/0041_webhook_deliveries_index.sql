-- migrate: no-transaction
ALTER TABLE deliveries VALIDATE CONSTRAINT deliveries_kind_check;
CREATE INDEX CONCURRENTLY IF NOT EXISTS deliveries_webhook_idx ON deliveries (webhook_id, id)
    WHERE webhook_id IS NOT NULL;
