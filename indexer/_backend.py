"""The search backend interface, the index layout shared by the backends, and ``open_index``.

Layout (every backend): per document one DOCUMENT record and one PAGE record per page.

- The document record carries the filter fields (codes, framework, file type, status,
  year), the title (a field of its own, for a boost) and ``body``: the title followed by
  every page, positions continuing with a gap of ``PAGE_GAP`` between pages so a phrase
  never spans two pages. Ranking (BM25), the AND of the query, ``total``, filters and
  pagination all run on document records: one record per document, so counting documents
  is the engine's own count.
- A page record carries doc_id, page number, the page's tokens (``content``) and its
  stored text. After the documents of one result page are known, one more query over
  their page records (any query word, BM25) gives the matching pages, best first, and the
  texts to cut snippets from. The title is not repeated on pages.

A backend implements the storage primitives below; ``search`` is shared.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from indexer._query import ParsedQuery, parse_query
from indexer._snippets import Highlighter
from indexer._tokenize import Token, iter_tokens
from indexer._types import (
    Hit,
    IndexDoc,
    IndexerError,
    IndexLockedError,
    SearchQuery,
    SearchResult,
    Snippet,
)

#: Positions left empty between the title and each page in the body field.
PAGE_GAP = 100
#: Pages per hit that get a snippet.
SNIPPET_PAGES = 3
#: Documents written per commit; the writer lock is released between batches.
BATCH_SIZE = 500
#: Seconds to wait for another process's writer before raising IndexLockedError.
LOCK_TIMEOUT = 60.0

T = TypeVar("T")


@dataclass(slots=True)
class PreparedPage:
    number: int
    text: str
    tokens: list[Token]


@dataclass(slots=True)
class PreparedDoc:
    """An IndexDoc tokenized once for all its records."""

    doc: IndexDoc
    title_tokens: list[Token]
    body_tokens: list[Token]
    pages: list[PreparedPage]


def prepare(doc: IndexDoc) -> PreparedDoc:
    """Tokenize a document: title, body (title + pages with gaps) and each page."""
    title_tokens = list(iter_tokens(doc.title))
    body = list(title_tokens)
    pos = (title_tokens[-1].position + 1 if title_tokens else 0) + PAGE_GAP
    pages = []
    for page in doc.pages:
        if not page.text.strip():
            continue
        tokens = list(iter_tokens(page.text))
        pages.append(PreparedPage(page.number, page.text, tokens))
        if tokens:
            body.extend(t._replace(position=t.position + pos) for t in tokens)
            pos += tokens[-1].position + 1 + PAGE_GAP
    return PreparedDoc(doc, title_tokens, body, pages)


def prepare_batches(
    docs: Iterable[IndexDoc], size: int = BATCH_SIZE
) -> Iterator[list[PreparedDoc]]:
    """Tokenized batches; a doc_id seen twice in a batch keeps its last version."""
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


@dataclass(slots=True)
class PageMatch:
    """A matching page of a hit; ``ref`` is the backend's handle to load its text."""

    doc_id: int
    page: int
    score: float
    ref: Any


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
        self, parsed: ParsedQuery, docs: Sequence[tuple[int, float]], snippets: bool
    ) -> list[Hit]:
        if not docs:
            return []
        ids = [doc_id for doc_id, _ in docs]
        by_doc: dict[int, list[PageMatch]] = {i: [] for i in ids}
        for m in self._match_pages(parsed, ids):
            by_doc[m.doc_id].append(m)
        for matches in by_doc.values():
            matches.sort(key=lambda m: (-m.score, m.page))
        texts: dict[tuple[int, int], str] = {}
        if snippets:
            wanted = [m for i in ids for m in by_doc[i][:SNIPPET_PAGES]]
            missing = [i for i in ids if not by_doc[i]]
            if missing:  # matched by title or code only: show the start of the first page
                wanted += self._first_pages(missing)
            loaded = self._load_texts([m.ref for m in wanted]) if wanted else []
            texts = {(m.doc_id, m.page): t for m, t in zip(wanted, loaded, strict=True)}
        highlighter = Highlighter.for_query(parsed)
        hits = []
        for doc_id, score in docs:
            matches = by_doc[doc_id]
            out: list[Snippet] = []
            if snippets:
                shown = matches[:SNIPPET_PAGES] if matches else []
                keys = [(doc_id, m.page) for m in shown]
                if not shown:
                    keys = [k for k in texts if k[0] == doc_id]
                for key in keys:
                    text = texts.get(key, "")
                    if text.strip():
                        out.append(Snippet(key[1], highlighter.snippet(text)))
            hits.append(Hit(doc_id, float(score), [m.page for m in matches], out))
        return hits

    # -- what a backend provides for ``search`` --

    @abstractmethod
    def _match_documents(
        self, parsed: ParsedQuery, query: SearchQuery, conjunctive: bool, limit: int, offset: int
    ) -> tuple[int, list[tuple[int, float]]]:
        """(number of matching documents, [(doc_id, score)] for ``offset:offset+limit``)."""

    @abstractmethod
    def _match_pages(self, parsed: ParsedQuery, doc_ids: list[int]) -> list[PageMatch]:
        """Pages of ``doc_ids`` containing any word, phrase or code of the query."""

    @abstractmethod
    def _first_pages(self, doc_ids: list[int]) -> list[PageMatch]:
        """The lowest-numbered page record of each of ``doc_ids`` that has one."""

    @abstractmethod
    def _load_texts(self, refs: list[Any]) -> list[str]:
        """The stored texts of pages, in the order of ``refs``."""


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


_BACKENDS: dict[str, Callable[..., SearchBackend]] = {}


def register_backend(kind: str, factory: Callable[..., SearchBackend]) -> None:
    """Make ``open_index(kind, ...)`` call ``factory(**opts)`` (for backends added later)."""
    _BACKENDS[kind] = factory


def open_index(kind: str, path: str | Path | None = None, **opts: Any) -> SearchBackend:
    """Open (creating if needed) the index of ``kind`` ("whoosh" | "tantivy") at ``path``."""
    if kind == "whoosh":
        from indexer._whoosh import WhooshBackend

        return WhooshBackend(_need_path(kind, path), **opts)
    if kind == "tantivy":
        from indexer._tantivy import TantivyBackend

        return TantivyBackend(_need_path(kind, path), **opts)
    if kind in _BACKENDS:
        if path is not None:
            opts["path"] = path
        return _BACKENDS[kind](**opts)
    raise IndexerError(f"unknown search backend {kind!r} (whoosh, tantivy)")


def _need_path(kind: str, path: str | Path | None) -> Path:
    if path is None:
        raise IndexerError(f"the {kind} backend needs an index directory (path=...)")
    return Path(path)
