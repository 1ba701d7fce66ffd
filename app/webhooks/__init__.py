"""Signed webhooks: endpoints, the events they hear of, and their health."""
