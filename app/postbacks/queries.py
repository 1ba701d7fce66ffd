"""SQL of the postback intake."""

LOAD_ADVERTISERS = """
SELECT id, postback_token, status, ip_allowlist, signing_secret FROM advertisers
"""
