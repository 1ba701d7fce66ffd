"""The tracking-link redirect: GET /c/{code}."""
