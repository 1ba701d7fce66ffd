"""E-mail: the outbox, its sender, notifications, preferences and announcements."""
