"""API keys: creation (shown once), hashing, revocation, and request authentication."""
