"""Attribution: conversions from the stream to PostgreSQL, payout rules, the conversions API."""
