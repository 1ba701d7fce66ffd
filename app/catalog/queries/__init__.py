"""SQL of the catalog, one module per resource, each used by the resource module of its name.

Column names in dynamic UPDATEs (`app.catalog.patch.update_sql`) come from fixed whitelists only.
"""
