"""Advertisers, offers, affiliates and links: one module per resource, SQL in `queries/`.

DELETE removes a row only when nothing refers to it; otherwise it archives the row, so
history stays attributable. Links are never removed: a shared tracking link keeps
redirecting (to the offer's fallback once archived) instead of starting to 404.
"""
