"""The HTTP surfaces: the query API, its access rules and OpenAPI document, the reader's ingest."""
