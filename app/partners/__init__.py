"""Partner management: the affiliate lifecycle, profile, notes and commission groups."""
