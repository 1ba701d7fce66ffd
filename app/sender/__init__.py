"""Outbound postbacks to affiliates' trackers: claim, send, record, retry."""
