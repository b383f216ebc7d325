"""Text extraction, Chinese tokenizing and the search index. No Flask, no storage models.

The app hands ``IndexDoc`` objects (id, title, pages, codes) to a backend and gets ids back
with scores, page numbers and highlighted snippets; it joins the ids to its own rows.
"""

from indexer._types import (
    EncryptedError,
    ExtractionError,
    Hit,
    IndexDoc,
    IndexerError,
    IndexLockedError,
    Page,
    SearchQuery,
    SearchResult,
    Snippet,
    UnsupportedFormatError,
)

# -- extraction exports --

# -- search exports --

__all__ = [
    "EncryptedError",
    "ExtractionError",
    "Hit",
    "IndexDoc",
    "IndexLockedError",
    "IndexerError",
    "Page",
    "SearchQuery",
    "SearchResult",
    "Snippet",
    "UnsupportedFormatError",
    # -- extraction names --
    # -- search names --
]
