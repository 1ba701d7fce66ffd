"""Redis streams: the group-commit producer and the consumer-group worker."""
