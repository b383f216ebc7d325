"""Search: the query use case and page, and how the index follows the database
(indexing.py: IndexFollower, index health, sync and rebuild)."""
