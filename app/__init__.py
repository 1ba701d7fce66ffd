"""Self-hosted click tracking and attribution for affiliate programs."""
