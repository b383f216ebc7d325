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
    IndexLayoutError,
    IndexLockedError,
    Page,
    SearchQuery,
    SearchResult,
    Snippet,
    UnsupportedFormatError,
)

# -- extraction exports --
# isort: split
from indexer._extract import FILE_TYPES, detect_file_type, extract_pages, file_type_from_name
from indexer._facts import FileFacts, inspect_file
from indexer._ocr import ocr_image
from indexer._ofd import ofd_metadata, render_ofd_page
from indexer._pdf import extract_pdf_tables
from indexer._sandbox import (
    ChildDiedError,
    ExtractionCrashError,
    ExtractionSandbox,
    ExtractionStoppedError,
    MemoryLimitError,
    TimeLimitError,
)

# -- search exports --
# isort: split
from indexer._backend import SearchBackend
from indexer._open import open_index, register_backend
from indexer._query import ParsedQuery, QueryTerm, parse_query
from indexer._tokenize import (
    Token,
    add_user_words,
    dictionary_fingerprint,
    is_code,
    normalize_text,
    segment,
    tokenize,
)
from indexer._whoosh import analyzer

__all__ = [
    "EncryptedError",
    "ExtractionError",
    "Hit",
    "IndexDoc",
    "IndexLayoutError",
    "IndexLockedError",
    "IndexerError",
    "Page",
    "SearchQuery",
    "SearchResult",
    "Snippet",
    "UnsupportedFormatError",
    # -- extraction names --
    "FILE_TYPES",
    "ChildDiedError",
    "ExtractionCrashError",
    "ExtractionSandbox",
    "ExtractionStoppedError",
    "FileFacts",
    "MemoryLimitError",
    "TimeLimitError",
    "detect_file_type",
    "extract_pages",
    "extract_pdf_tables",
    "file_type_from_name",
    "inspect_file",
    "ocr_image",
    "ofd_metadata",
    "render_ofd_page",
    # -- search names --
    "ParsedQuery",
    "QueryTerm",
    "SearchBackend",
    "Token",
    "add_user_words",
    "analyzer",
    "dictionary_fingerprint",
    "is_code",
    "normalize_text",
    "open_index",
    "parse_query",
    "register_backend",
    "segment",
    "tokenize",
]
