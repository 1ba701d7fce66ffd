"""GET /dashboard: a stats page for admins and affiliates, over the public stats API."""
