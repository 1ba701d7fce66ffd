"""The HTTP edge: how `tracker serve` answers tracking links."""
