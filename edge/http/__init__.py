"""The HTTP layer: the Starlette app, its schemas and OpenAPI, metrics and limits."""
