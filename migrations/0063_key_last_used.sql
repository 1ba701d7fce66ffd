-- When an API key was last used (issue 16's keys screen): written by authentication at
-- most once a minute per key, so the hot API path does not write on every request.
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
