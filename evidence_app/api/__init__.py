"""The REST API's shared plumbing (token auth, JSON errors, OpenAPI) and its routes."""
