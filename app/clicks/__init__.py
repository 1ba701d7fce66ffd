"""Clicks: enrichment (device, OS, browser, bot, country, unique) and storage."""
