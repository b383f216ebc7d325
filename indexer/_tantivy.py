"""tantivy backend (tantivy-py): the fast one.

tantivy cannot call a Python tokenizer, so documents are pre-tokenized with
``indexer.tokenize`` (``PreTokenizedString``: our token texts, ordinal positions, offsets)
and queries are built from the same tokens (term and phrase queries, never tantivy's
query parser). Page text is kept in a stored bytes field for the snippets.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from itertools import starmap
from pathlib import Path
from typing import Any, cast

import tantivy

from indexer._backend import (
    LOCK_TIMEOUT,
    PreparedDoc,
    SearchBackend,
    bm25_idf,
    empty_directory,
    prepare_batches,
    retry_locked,
)
from indexer._query import SEQUENCE_SCORE, ExactSequence, Group, ParsedQuery, QueryTerm
from indexer._snippets import PageText
from indexer._tokenize import char_grams
from indexer._types import IndexDoc, IndexerError, IndexLayoutError, SearchQuery

TITLE_BOOST = 3.0
#: Weight of a query chunk found as written (its bigrams in a row) beside its words.
GRAMS_BOOST = 1.0
CODE_SCORES = {"code": 30.0, "entry_codes": 20.0, "indicator_codes": 10.0}
_TEXT_FIELDS = ("title", "body")
_KEYWORD_FIELDS = ("code", "entry_codes", "indicator_codes", "file_type", "status")

Occur = tantivy.Occur
Query = tantivy.Query


def make_schema() -> tantivy.Schema:
    """One record per document (see ``indexer._backend``)."""
    sb = tantivy.SchemaBuilder()
    sb.add_unsigned_field("doc_id", stored=True, indexed=True, fast=True)
    for name in _TEXT_FIELDS:
        sb.add_text_field(name, tokenizer_name="whitespace", index_option="position")
    # character bigrams, space-separated: tantivy splits them itself (no Python tokens)
    sb.add_text_field("grams", tokenizer_name="whitespace", index_option="position")
    sb.add_bytes_field("pages", stored=True)  # JSON of PageText.to_json() per page
    for name in _KEYWORD_FIELDS:
        sb.add_text_field(name, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("framework_id", indexed=True)
    sb.add_integer_field("year", indexed=True)
    return sb.build()


class TantivyBackend(SearchBackend):
    """Search index in a directory, written under tantivy's writer lock."""

    kind = "tantivy"

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        heap_mb: int = 64,
        threads: int = 1,
        recreate: bool = False,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.heap_mb = heap_mb
        self.threads = threads
        self.path.mkdir(parents=True, exist_ok=True)
        if recreate:
            empty_directory(self.path)
        self.schema = make_schema()
        _check_layout(self.path / "meta.json")
        try:
            self._index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
            self._index.config_reader(reload_policy="manual")
        except ValueError as e:
            raise IndexerError(f"cannot open the tantivy index at {self.path}: {e}") from e
        self._meta = self.path / "meta.json"
        self._stamp = self._meta_stamp()
        self._reload_lock = threading.Lock()
        self._closed = False

    # -- writing --

    def _meta_stamp(self) -> tuple[int, int]:
        try:
            st = os.stat(self._meta)
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[tantivy.IndexWriter]:
        if self._closed:
            raise IndexerError("the index is closed")
        heap = self.heap_mb * 1_000_000 * self.threads
        writer = retry_locked(
            lambda: self._index.writer(heap_size=heap, num_threads=self.threads),
            _is_lock_error,
            self.lock_timeout,
        )
        try:
            yield writer
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        finally:
            writer.wait_merging_threads()  # also releases the lock
        self._reload()

    def _reload(self) -> None:
        with self._reload_lock:
            self._index.reload()
            self._stamp = self._meta_stamp()

    def add(self, docs: Iterable[IndexDoc]) -> None:
        for batch in prepare_batches(docs):
            with self._writer() as writer:
                writer.delete_documents_by_query(self._of([p.doc.doc_id for p in batch]))
                for prepared in batch:
                    writer.add_document(_record(prepared))

    def delete(self, doc_ids: Iterable[int]) -> None:
        ids = sorted(set(doc_ids))
        if not ids:
            return
        with self._writer() as writer:
            writer.delete_documents_by_query(self._of(ids))

    def clear(self) -> None:
        with self._writer() as writer:
            writer.delete_all_documents()

    # -- reading --

    def _searcher(self) -> tantivy.Searcher:
        """The current searcher; reloaded when meta.json changed (a commit, any process)."""
        if self._closed:
            raise IndexerError("the index is closed")
        if self._meta_stamp() != self._stamp:
            self._reload()
        return self._index.searcher()

    def doc_ids(self) -> set[int]:
        searcher = self._searcher()
        n = searcher.num_docs
        if not n:
            return set()
        result = searcher.search(Query.all_query(), limit=n)
        addrs = [addr for _, addr in result.hits]
        return {int(v) for v in _doc_id_values(searcher, addrs)}

    def count(self) -> int:
        return self._searcher().num_docs

    def close(self) -> None:
        self._closed = True

    # -- search --

    def _word(self, field: str, term: QueryTerm) -> tantivy.Query:
        q = Query.term_query(self.schema, field, term.text)
        if term.parts:
            phrase = Query.phrase_query(self.schema, field, list(term.parts))
            q = Query.boolean_query([(Occur.Should, q), (Occur.Should, phrase)])
        return q

    def _of(self, doc_ids: list[int]) -> tantivy.Query:
        return Query.term_set_query(self.schema, "doc_id", doc_ids)

    def _filters(self, query: SearchQuery) -> list[tantivy.Query]:
        s = self.schema
        out = []
        if query.framework_id is not None:
            out.append(Query.term_query(s, "framework_id", query.framework_id))
        if query.indicator:
            out.append(Query.term_query(s, "indicator_codes", query.indicator.strip()))
        if query.file_type:
            out.append(Query.term_query(s, "file_type", query.file_type))
        if query.status:
            out.append(Query.term_query(s, "status", query.status))
        if query.doc_ids is not None:
            out.append(self._of(sorted(query.doc_ids)))
        return [Query.const_score_query(q, 0.0) for q in out]

    def _phrase(self, field: str, tokens: tuple[str, ...]) -> tantivy.Query:
        if len(tokens) == 1:
            return Query.term_query(self.schema, field, tokens[0])
        return Query.phrase_query(self.schema, field, list(tokens))

    def _sequence(self, seq: ExactSequence) -> tantivy.Query:
        """``SEQUENCE_SCORE`` for a document holding ``seq`` as written: its tokens in a
        row, or its bigrams in a row with its Latin/digit ends as whole tokens."""
        ways = [(Occur.Should, self._phrase("body", seq.tokens))]
        if seq.grams:
            grams = [(Occur.Must, self._phrase("grams", seq.grams))]
            grams += [(Occur.Must, Query.term_query(self.schema, "body", t)) for t in seq.anchors]
            ways.append((Occur.Should, Query.boolean_query(grams)))
        return Query.const_score_query(Query.boolean_query(ways), SEQUENCE_SCORE)

    def _group(self, group: Group, conjunctive: bool) -> list[tantivy.Query]:
        """The group's clause (with AND), or its alternatives one by one (with OR)."""
        if group.phrase:
            words = [self._phrase("body", group.phrase)]
        elif conjunctive and len(group.terms) > 1:
            words = [
                Query.boolean_query([(Occur.Must, self._word("body", t)) for t in group.terms])
            ]
        else:
            words = [self._word("body", t) for t in group.terms]
        if group.grams:
            grams = self._phrase("grams", group.grams)
            words.append(Query.boost_query(grams, GRAMS_BOOST))
        if conjunctive and len(words) > 1:
            return [Query.boolean_query([(Occur.Should, w) for w in words])]
        return words

    def _match_documents(
        self, parsed: ParsedQuery, query: SearchQuery, conjunctive: bool, limit: int, offset: int
    ) -> tuple[int, list[tuple[int, float, Any]]]:
        s = self.schema
        clauses = [c for g in parsed.groups for c in self._group(g, conjunctive)]
        for code in parsed.codes:
            alternatives = [
                (Occur.Should, Query.const_score_query(Query.term_query(s, f, code), score))
                for f, score in CODE_SCORES.items()
            ]
            clauses.append(Query.boolean_query(alternatives))
        occur = Occur.Must if conjunctive else Occur.Should
        main = Query.boolean_query([(occur, c) for c in clauses])
        subqueries = [(Occur.Must, main)] + [(Occur.Must, f) for f in self._filters(query)]
        for t in parsed.terms:
            title = Query.term_query(s, "title", t.text)
            subqueries.append((Occur.Should, Query.boost_query(title, TITLE_BOOST)))
        for p in parsed.phrases:
            title = Query.phrase_query(s, "title", list(p))
            subqueries.append((Occur.Should, Query.boost_query(title, TITLE_BOOST)))
        for p in parsed.nearby:
            subqueries.append((Occur.Should, Query.phrase_query(s, "body", list(p))))
        for seq in parsed.boosted_sequences(conjunctive):
            subqueries.append((Occur.Should, self._sequence(seq)))
        searcher = self._searcher()
        result = searcher.search(
            Query.boolean_query(subqueries), limit=max(1, limit), offset=offset, count=True
        )
        hits = result.hits[:limit]
        ids = _doc_id_values(searcher, [addr for _, addr in hits])
        # SearchResult.count exists (None unless count=True) but tantivy's stub omits it
        return result.count, [  # type: ignore[attr-defined]
            (int(i), score, addr) for i, (score, addr) in zip(ids, hits, strict=True)
        ]

    def _load_pages(self, refs: list[Any]) -> list[list[PageText]]:
        searcher = self._searcher()
        out = []
        for addr in refs:
            value = searcher.doc(addr).get_first("pages")
            pages = json.loads(bytes(value)) if value else []
            out.append([PageText.from_json(p) for p in pages])
        return out

    def _idf(self, token: str) -> float:
        searcher = self._searcher()
        return bm25_idf(searcher.num_docs, searcher.doc_freq("body", token))


def _doc_id_values(searcher: tantivy.Searcher, addrs: list[tantivy.DocAddress]) -> list[int]:
    """The ``doc_id`` of each address: an unsigned fast field, so ints (the stub's return type
    covers every kind of fast field)."""
    return cast("list[int]", searcher.fast_field_values("doc_id", addrs))


def _record(prepared: PreparedDoc) -> tantivy.Document:
    """The document's record, built page by page (only one page's tokens live at a time)."""
    doc = prepared.doc
    make = tantivy.Token
    Pre = tantivy.PreTokenizedString
    record = tantivy.Document()
    record.add_unsigned("doc_id", doc.doc_id)
    title = Pre(doc.title, list(starmap(make, prepared.title)))
    record.add_pre_tokenized_text("title", title)
    if prepared.title:
        record.add_pre_tokenized_text("body", title)
        record.add_text("grams", " ".join(char_grams(prepared.title_norm)))
    pages = []
    for page, tokens in prepared.iter_pages():
        if tokens:  # one value per page: tantivy leaves a position free between values
            record.add_pre_tokenized_text("body", Pre(page.norm, list(starmap(make, tokens))))
            record.add_text("grams", " ".join(char_grams(page.norm)))
        pages.append(page.to_json())
    record.add_bytes("pages", json.dumps(pages, ensure_ascii=False).encode("utf-8"))
    if doc.code:
        record.add_text("code", doc.code)
    for code in doc.entry_codes:
        record.add_text("entry_codes", code)
    for code in doc.indicator_codes:
        record.add_text("indicator_codes", code)
    if doc.framework_id is not None:
        record.add_unsigned("framework_id", doc.framework_id)
    if doc.file_type:
        record.add_text("file_type", doc.file_type)
    if doc.status:
        record.add_text("status", doc.status)
    if doc.year is not None:
        record.add_integer("year", doc.year)
    return record


def _field_names() -> list[str]:
    names = ["doc_id", *_TEXT_FIELDS, "grams", "pages", *_KEYWORD_FIELDS, "framework_id", "year"]
    return sorted(names)


def _check_layout(meta: Path) -> None:
    """IndexLayoutError if the index at ``meta``'s directory has other fields than ours."""
    try:
        fields = json.loads(meta.read_text(encoding="utf-8"))["schema"]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexerError(f"cannot read {meta}: {e}") from e
    if sorted(f.get("name") for f in fields) != _field_names():
        raise IndexLayoutError(f"the index at {meta.parent} has another layout: rebuild it")


def _is_lock_error(e: Exception) -> bool:
    return isinstance(e, ValueError) and "LockBusy" in str(e)
