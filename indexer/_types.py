"""Plain data types shared by extraction, tokenizing and the search backends."""

from __future__ import annotations

from dataclasses import dataclass, field


class IndexerError(Exception):
    """Base error of the indexer package."""


class ExtractionError(IndexerError):
    """A file could not be read (corrupt, truncated, not what its name says)."""


class EncryptedError(ExtractionError):
    """The file is password protected."""


class UnsupportedFormatError(ExtractionError):
    """No extractor (or no converter installed) for this kind of file."""


class IndexLayoutError(IndexerError):
    """The index was built by another version with other fields: rebuild it (recreate=True)."""


class IndexLockedError(IndexerError):
    """The index writer lock could not be taken within the timeout."""


@dataclass(frozen=True, slots=True)
class Page:
    """Text of one page (or sheet, or the whole of a file without pages), 1-based."""

    number: int
    text: str
    source: str = "text"  # "text" (text layer / file content) or "ocr"
    # OCR only: the clockwise turn (0, 90, 180, 270 degrees) that made the page upright, on
    # top of the page's own /Rotate or EXIF orientation (a sideways or upside-down scan)
    rotation: int = 0


@dataclass(slots=True)
class IndexDoc:
    """What the app hands to a search backend for one document version."""

    doc_id: int
    title: str
    pages: list[Page]
    code: str = ""  # evidence code of the document, e.g. "2.3.4-1"
    entry_codes: list[str] = field(default_factory=list)
    indicator_codes: list[str] = field(default_factory=list)  # with ancestors: 2, 2.3, 2.3.4
    framework_id: int | None = None
    file_type: str = ""
    year: int | None = None
    status: str = ""


@dataclass(slots=True)
class SearchQuery:
    text: str
    framework_id: int | None = None
    indicator: str | None = None  # code; matches the subtree (2.3 matches 2.3.4)
    file_type: str | None = None
    status: str | None = None
    doc_ids: set[int] | None = None  # restrict to these (access control)
    limit: int = 20
    offset: int = 0
    snippets: bool = True


@dataclass(slots=True)
class Snippet:
    page: int
    html: str  # HTML-escaped text with matches wrapped in <mark>


@dataclass(slots=True)
class Hit:
    doc_id: int
    score: float
    pages: list[int]
    snippets: list[Snippet]


@dataclass(slots=True)
class SearchResult:
    total: int
    hits: list[Hit]
    took_ms: float
    terms: list[str] = field(default_factory=list)  # query terms, for highlighting elsewhere
    fallback: bool = False  # no document had every term: these match any term (OR)
