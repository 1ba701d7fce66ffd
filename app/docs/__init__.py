"""/docs: Swagger UI over /openapi.json, served from this origin (nothing from a CDN)."""
