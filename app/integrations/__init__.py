"""CRM deal stages to conversions: /api/v1/integrations and the inbound calls."""
