"""Rollups: the stats_rollup tables, their metrics, bucket width and tiers, in one place."""
