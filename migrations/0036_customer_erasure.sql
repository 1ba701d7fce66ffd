-- When a customer's personal data (its external ID) was erased (app/privacy): the row
-- stays, with its binding, so its conversions, rollups and reports still count; a later
-- postback with the same external ID makes a new customer. A nullable column without a
-- default: no rewrite of the table.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
