-- A portal user's locale (issue 16): how the portal writes their numbers and amounts.
-- A constant default: the column is added without rewriting the table.
ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en_US';
