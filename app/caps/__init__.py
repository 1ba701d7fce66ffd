"""Caps: daily or monthly limits on an offer's clicks or conversions."""
