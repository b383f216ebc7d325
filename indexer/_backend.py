"""The search backend interface and the index layout shared by the backends.

``open_index`` (which picks a backend) is in ``indexer._open``.

Layout (every backend): ONE record per document, page-aware.

- ``title``: the title's tokens (a separate field, for a boost).
- ``body``: the title, then each page, as separate values of one field: positions continue
  across values with one empty position between them, so a phrase never spans two pages.
  Ranking (BM25), the AND of the query, ``total``, filters and pagination all run on these
  records: one per document, so counting documents is the engine's own count, and an AND
  is satisfied by words on different pages (a document matches, not a page).
- the filter fields (codes, framework, file type, status, year), and
- ``pages``: the stored text of each page with its number.

The pages of a hit are found afterwards in the stored page texts of the hits (only those of
the result page being shown), with the query's own tokens: see ``PageMatcher``. Pages are
listed best first (the most query words, rare words counting more), ties by page number.

Why not one index record per page: ``total`` counts documents, so every matching page
record would have to be fetched and grouped by doc_id in Python (about 100,000 page hits
for a common word in 20,000 documents), which alone would exceed the 50 ms budget; and an
AND of words from different pages of one document would not match.

A backend implements the storage primitives below; ``search`` is shared.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from indexer._query import ParsedQuery, parse_query
from indexer._snippets import PageMatcher, PageText
from indexer._tokenize import RawToken, normalize_text, raw_tokens
from indexer._types import (
    Hit,
    IndexDoc,
    IndexLockedError,
    SearchQuery,
    SearchResult,
    Snippet,
)

#: Pages per hit that get a snippet.
SNIPPET_PAGES = 3
#: Documents written per commit; the writer lock is released between batches.
BATCH_SIZE = 500
#: Seconds to wait for another process's writer before raising IndexLockedError.
LOCK_TIMEOUT = 60.0

T = TypeVar("T")


class PreparedDoc:
    """An IndexDoc with its title tokenized; pages are tokenized when a backend reads them.

    Page token positions start at 0 on every page; backends lay the pages out in ``body``.
    Pages without text are left out. ``iter_pages`` tokenizes one page at a time and keeps
    nothing (a 500-page PDF is about 700,000 tokens: holding them all as Python tuples costs
    more than 150 MB); ``pages`` tokenizes all of them once and keeps them until ``release``.
    """

    __slots__ = ("_pages", "doc", "title", "title_norm")

    def __init__(self, doc: IndexDoc) -> None:
        self.doc = doc
        self.title_norm = normalize_text(doc.title)
        self.title: list[RawToken] = raw_tokens(self.title_norm, normalized=True)
        self._pages: list[tuple[PageText, list[RawToken]]] | None = None

    def iter_pages(self) -> Iterator[tuple[PageText, list[RawToken]]]:
        """Each page with text: its stored form and tokens, computed as it is reached."""
        if self._pages is not None:
            yield from self._pages
            return
        for page in self.doc.pages:
            if page.text.strip():
                norm = normalize_text(page.text)
                stored = PageText.from_text(page.number, page.text, norm)
                yield stored, raw_tokens(norm, normalized=True)

    @property
    def pages(self) -> list[tuple[PageText, list[RawToken]]]:
        if self._pages is None:
            self._pages = list(self.iter_pages())
        return self._pages

    def release(self) -> None:
        """Forget the tokenized pages (the document has been written)."""
        self._pages = None


def prepare(doc: IndexDoc) -> PreparedDoc:
    """The document with its title tokenized (pages follow on demand)."""
    return PreparedDoc(doc)


def prepare_batches(
    docs: Iterable[IndexDoc], size: int = BATCH_SIZE
) -> Iterator[list[PreparedDoc]]:
    """Batches of prepared documents; a doc_id seen twice in a batch keeps its last version."""
    batch: dict[int, IndexDoc] = {}
    for doc in docs:
        batch.pop(doc.doc_id, None)
        batch[doc.doc_id] = doc
        if len(batch) >= size:
            yield [prepare(d) for d in batch.values()]
            batch = {}
    if batch:
        yield [prepare(d) for d in batch.values()]


def retry_locked(
    acquire: Callable[[], T], is_locked: Callable[[Exception], bool], timeout: float
) -> T:
    """Call ``acquire`` until it stops failing with a lock error; IndexLockedError at timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            return acquire()
        except Exception as e:
            if not is_locked(e):
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise IndexLockedError(f"index writer busy for more than {timeout:g} s") from e
            time.sleep(min(left, delay * (0.5 + random.random())))
            delay = min(delay * 2, 0.5)


class SearchBackend(ABC):
    """A full-text index of documents with pages. Writers take a cross-process lock."""

    kind: str = ""

    # -- writing --

    @abstractmethod
    def add(self, docs: Iterable[IndexDoc]) -> None:
        """Index documents, replacing every record of the same doc_id."""

    @abstractmethod
    def delete(self, doc_ids: Iterable[int]) -> None:
        """Remove documents (all their pages); unknown ids are ignored."""

    @abstractmethod
    def clear(self) -> None:
        """Remove every document."""

    # -- reading --

    @abstractmethod
    def doc_ids(self) -> set[int]:
        """The ids of all indexed documents."""

    @abstractmethod
    def count(self) -> int:
        """The number of indexed documents (not pages)."""

    @abstractmethod
    def close(self) -> None:
        """Release files and searchers; the object is unusable afterwards."""

    def __enter__(self) -> SearchBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(self, query: SearchQuery) -> SearchResult:
        """Documents matching ``query``, best first, with pages and snippets."""
        started = time.perf_counter()
        parsed = parse_query(query.text)
        terms = parsed.highlight_terms()
        if parsed.is_empty() or (query.doc_ids is not None and not query.doc_ids):
            return SearchResult(0, [], _ms(started), terms)
        limit = max(0, query.limit)
        offset = max(0, query.offset)
        total, docs = self._match_documents(parsed, query, True, limit, offset)
        fallback = False
        if total == 0 and parsed.clause_count > 1:
            total, docs = self._match_documents(parsed, query, False, limit, offset)
            fallback = total > 0
        hits = self._hits(parsed, docs, query.snippets)
        return SearchResult(total, hits, _ms(started), terms, fallback=fallback)

    def _hits(
        self, parsed: ParsedQuery, docs: Sequence[tuple[int, float, Any]], snippets: bool
    ) -> list[Hit]:
        if not docs:
            return []
        stored = self._load_pages([ref for _, _, ref in docs])
        matcher = PageMatcher.for_query(parsed, self._idf)
        hits = []
        for (doc_id, score, _), pages in zip(docs, stored, strict=True):
            ranked = matcher.rank(pages)
            out: list[Snippet] = []
            if snippets and pages:
                by_number = {p.number: p for p in pages}
                # matched by title or code only: show the start of the first page
                for number in ranked[:SNIPPET_PAGES] or [pages[0].number]:
                    out.append(Snippet(number, matcher.snippet(by_number[number])))
            hits.append(Hit(doc_id, float(score), ranked, out))
        return hits

    # -- what a backend provides for ``search`` --

    @abstractmethod
    def _match_documents(
        self, parsed: ParsedQuery, query: SearchQuery, conjunctive: bool, limit: int, offset: int
    ) -> tuple[int, list[tuple[int, float, Any]]]:
        """(number of matching documents, [(doc_id, score, ref)] of ``offset:offset+limit``).

        ``ref`` is the backend's handle for ``_load_pages``.
        """

    @abstractmethod
    def _load_pages(self, refs: list[Any]) -> list[list[PageText]]:
        """The stored pages of each document, in the order of ``refs``."""

    @abstractmethod
    def _idf(self, token: str) -> float:
        """Inverse document frequency of a token in ``body`` (weights words on pages)."""


def bm25_idf(n: int, df: int) -> float:
    """BM25's idf. Engines count deleted documents in ``df`` until their segments merge, so
    a re-indexed document can make ``df`` exceed ``n``: clamp, or the idf turns negative."""
    df = min(df, n)
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def empty_directory(path: Path) -> None:
    """Remove everything inside ``path`` (an index directory being recreated)."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
