"""Login, users and API tokens, permissions and the scope check."""
