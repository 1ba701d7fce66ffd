"""Stats: rollup tiers, the raw-row fallback and GET /api/v1/stats."""
