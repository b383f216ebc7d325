"""Whoosh backend (whoosh-reloaded): the embedded default, pure Python.

Made fast by what it does not do: Whoosh's query parser, highlighter and multi-field BM25F
over pages. Ranking runs on one document record per document (see ``_backend``), the
searcher is cached per thread and refreshed only when the index generation changed, and
snippets are cut by our own code from the stored page text.

Queries are built as Whoosh query trees but run by ``_whoosh_engine`` on whole arrays of
the index's postings (same scores as Whoosh's BM25F, decoded postings cached per segment):
Whoosh's own matchers walk the postings a document at a time in Python and count the
hits in a second pass (p95 0.5-0.8 s at 20,000 documents, 20-110 ms here). A query tree
the engine does not know runs on Whoosh's search, as does everything with
``engine=False``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import Token as WhooshToken
from whoosh.analysis import Tokenizer
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.formats import Positions
from whoosh.searching import Searcher
from whoosh.writing import CLEAR, IndexWriter

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
from indexer._tokenize import RawToken, char_grams, raw_tokens
from indexer._types import IndexDoc, IndexerError, IndexLayoutError, SearchQuery
from indexer._whoosh_engine import Engine, PostingCache, Unsupported

log = logging.getLogger(__name__)

TITLE_BOOST = 3.0
#: Weight of a query chunk found as written (its bigrams in a row) beside its words.
GRAMS_BOOST = 1.0
CODE_SCORES = {"code": 30.0, "entry_codes": 20.0, "indicator_codes": 10.0}


class Pretokenized(str):
    """A field value whose tokens are already known: (tokens, position offset) segments."""

    segments: list[tuple[list[RawToken], int]]

    def __new__(cls, text: str, segments: list[tuple[list[RawToken], int]]) -> Pretokenized:
        obj = super().__new__(cls, text)
        obj.segments = segments
        return obj

    def positions(self) -> dict[str, list[int]]:
        """Each token's positions (see ``_Positions``)."""
        out: defaultdict[str, list[int]] = defaultdict(list)
        for tokens, offset in self.segments:
            for text, pos, _, _ in tokens:
                out[text].append(pos + offset)
        return out


def _body(prepared: PreparedDoc) -> Pretokenized:
    """Title then pages, one empty position between them (as tantivy lays out values)."""
    segments = []
    offset = 0
    for tokens in [prepared.title] + [tokens for _, tokens in prepared.pages]:
        if tokens:
            segments.append((tokens, offset))
            offset += tokens[-1][1] + 2
    return Pretokenized("", segments)


class Grams(str):
    """The grams field's value: the normalised title and pages, cut into character bigrams
    one at a time as the tokenizer reaches them (a 500-page PDF has ~900,000 bigrams)."""

    texts: list[str]

    def __new__(cls, texts: list[str]) -> Grams:
        obj = super().__new__(cls, "")
        obj.texts = texts
        return obj

    def runs(self) -> Iterator[list[str]]:
        return map(char_grams, self.texts)

    def positions(self) -> dict[str, list[int]]:
        """Each bigram's positions (see ``_Positions``), as ``GramTokenizer`` numbers them."""
        out: defaultdict[str, list[int]] = defaultdict(list)
        pos = 0
        for grams in self.runs():
            for gram in grams:
                out[gram].append(pos)
                pos += 1
            if grams:
                pos += 1
        return out


class _Positions(Positions):  # type: ignore[misc]  # whoosh has no types
    """Whoosh's positions format, fed straight from our tokens when the value has them.

    Whoosh's own ``word_values`` makes a Token object per token and groups them: most of
    the time of indexing a document went there. Same postings, same encoding.
    """

    def word_values(
        self, value: Any, analyzer: Any, **kwargs: Any
    ) -> Iterator[tuple[str, int, float, bytes]]:
        table = getattr(value, "positions", None)
        if table is None:
            yield from super().word_values(value, analyzer, **kwargs)
            return
        boost = self.field_boost
        encode = self.encode
        for word, poslist in table().items():
            yield word, len(poslist), len(poslist) * boost, encode(poslist)


def _text_field(analyzer: Tokenizer) -> TEXT:
    field = TEXT(analyzer=analyzer, phrase=True)
    field.format = _Positions(field_boost=field.format.field_boost)
    return field


def _grams(prepared: PreparedDoc) -> Grams:
    return Grams([prepared.title_norm] + [page.norm for page, _ in prepared.pages])


class _Tokenizer(Tokenizer):  # type: ignore[misc]  # whoosh has no types
    """Whoosh's tokenizer call, with the options our tokenizers look at passed on."""

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[WhooshToken]:
        t = WhooshToken(positions, chars, removestops=removestops, mode=mode, **kwargs)
        opts = _Options(positions, chars, keeporiginal, start_pos, start_char, tokenize, mode)
        return self._tokens(t, value, opts)

    def _tokens(self, t: WhooshToken, value: str, o: _Options) -> Iterator[WhooshToken]:
        raise NotImplementedError


class _Options(NamedTuple):
    positions: bool
    chars: bool
    keeporiginal: bool
    start_pos: int
    start_char: int
    tokenize: bool
    mode: str


class GramTokenizer(_Tokenizer):
    """Tokens of a ``Grams`` value (one empty position between title and pages, as in
    ``body``); any other text is cut into bigrams here (queries never are: see _group)."""

    def _tokens(self, t: WhooshToken, value: str, o: _Options) -> Iterator[WhooshToken]:
        positions, chars, keeporiginal, start_pos, start_char, tokenize, mode = o
        if isinstance(value, Grams):
            runs: Iterable[list[str]] = value.runs()
        else:
            runs = [char_grams(value) if tokenize else [value]]
        pos = start_pos
        for grams in runs:
            for gram in grams:
                t.text = gram
                t.boost = 1.0
                t.stopped = False
                if positions:
                    t.pos = pos
                pos += 1
                yield t
            if grams:
                pos += 1


class ChineseTokenizer(_Tokenizer):
    """Whoosh tokenizer over ``indexer.tokenize``: ordinal positions, offsets in the original.

    Indexing (mode "index" or "") emits search-mode sub-words; mode "query" does not.
    """

    def _tokens(self, t: WhooshToken, value: str, o: _Options) -> Iterator[WhooshToken]:
        positions, chars, keeporiginal, start_pos, start_char, tokenize, mode = o
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
            return
        segments = getattr(value, "segments", None)
        if segments is None:
            segments = [(raw_tokens(value, search=mode != "query"), start_pos)]
        for tokens, offset in segments:
            for text, pos, start, end in tokens:
                t.text = text
                t.boost = 1.0
                t.stopped = False
                if keeporiginal:
                    t.original = value[start:end]
                if positions:
                    t.pos = pos + offset
                if chars:
                    t.startchar = start_char + start
                    t.endchar = start_char + end
                yield t


def analyzer() -> Tokenizer:
    """A Whoosh analyzer using this tokenizer (positions are ordinals, chars are offsets)."""
    return ChineseTokenizer()


def make_schema() -> Schema:
    """One record per document (see ``indexer._backend``)."""
    analyzer = ChineseTokenizer()
    return Schema(
        doc_id=ID(sortable=True),
        title=_text_field(analyzer),
        body=_text_field(analyzer),
        grams=_text_field(GramTokenizer()),
        pages=STORED(),
        code=ID(),
        entry_codes=KEYWORD(scorable=False),
        indicator_codes=KEYWORD(scorable=False),
        framework_id=ID(),
        file_type=ID(),
        status=ID(),
        year=NUMERIC(int, bits=32),
    )


class WhooshBackend(SearchBackend):
    """Search index in a directory, written with Whoosh's file lock."""

    kind = "whoosh"

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = LOCK_TIMEOUT,
        limitmb: int = 128,
        recreate: bool = False,
        engine: bool = True,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.limitmb = limitmb
        self.path.mkdir(parents=True, exist_ok=True)
        if recreate:
            empty_directory(self.path)
        try:
            if whoosh_index.exists_in(str(self.path)):
                self._ix = whoosh_index.open_dir(str(self.path))
            else:
                self._ix = retry_locked(
                    lambda: whoosh_index.create_in(str(self.path), make_schema()),
                    _is_lock_error,
                    lock_timeout,
                )
        except IndexerError:
            raise
        except Exception as e:
            raise IndexerError(f"cannot open the Whoosh index at {self.path}: {e}") from e
        if set(self._ix.schema.names()) != set(make_schema().names()):
            self._ix.close()
            raise IndexLayoutError(f"the index at {self.path} has another layout: rebuild it")
        self._local = threading.local()
        self._searchers: list[Searcher] = []
        self._searchers_lock = threading.Lock()
        #: Queries run on ``_whoosh_engine`` (False: Whoosh's own search, for comparison).
        self.engine = engine
        self._postings = PostingCache()
        self._columns: dict[str, Any] = {}

    # -- writing --

    @contextlib.contextmanager
    def _writer(self) -> Iterator[IndexWriter]:
        try:
            writer = retry_locked(
                lambda: self._ix.writer(limitmb=self.limitmb), _is_lock_error, self.lock_timeout
            )
        except whoosh_index.IndexError as e:
            raise IndexerError(f"cannot write the Whoosh index: {e}") from e
        try:
            yield writer
        except BaseException:
            writer.cancel()
            raise
        try:
            writer.commit()
        except BaseException:
            _abandon(writer)
            raise

    def add(self, docs: Iterable[IndexDoc]) -> None:
        for batch in prepare_batches(docs):
            with self._writer() as writer:
                for prepared in batch:
                    writer.delete_by_term("doc_id", str(prepared.doc.doc_id))
                    _write_doc(writer, prepared)
                    prepared.release()

    def delete(self, doc_ids: Iterable[int]) -> None:
        ids = sorted(set(doc_ids))
        if not ids:
            return
        with self._writer() as writer:
            for doc_id in ids:
                writer.delete_by_term("doc_id", str(doc_id))

    def clear(self) -> None:
        writer = retry_locked(self._ix.writer, _is_lock_error, self.lock_timeout)
        writer.commit(mergetype=CLEAR)

    # -- reading --

    def _searcher(self) -> Searcher:
        """This thread's searcher, reopened only when another commit made it stale."""
        searcher: Searcher | None = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._ix.searcher()
            with self._searchers_lock:
                self._searchers.append(searcher)
        elif not searcher.up_to_date():
            # not searcher.refresh(): whoosh-reloaded 2.7.5's reader(reuse=...) keeps the
            # old reader's segments, so deleted or merged documents would come back
            fresh = self._ix.searcher()
            with self._searchers_lock:
                self._searchers.remove(searcher)
                self._searchers.append(fresh)
            searcher.close()
            searcher = fresh
        self._local.searcher = searcher
        return searcher

    def _ids(self, searcher: Searcher) -> Any:
        cache = getattr(self._local, "ids", None)
        if cache is None or cache[0] is not searcher:
            cache = (searcher, searcher.reader().column_reader("doc_id"))
            self._local.ids = cache
        return cache[1]

    def doc_ids(self) -> set[int]:
        searcher = self._searcher()
        if not searcher.doc_count():
            return set()  # an empty index has no columns
        ids = self._ids(searcher)
        return {int(ids[n]) for n in searcher.reader().all_doc_ids()}

    def count(self) -> int:
        count: int = self._searcher().doc_count()
        return count

    def close(self) -> None:
        with self._searchers_lock:
            for searcher in self._searchers:
                searcher.close()
            self._searchers.clear()
        self._local = threading.local()
        self._ix.close()

    # -- search --

    def _match_documents(
        self, parsed: ParsedQuery, query: SearchQuery, conjunctive: bool, limit: int, offset: int
    ) -> tuple[int, list[tuple[int, float, Any]]]:
        clauses = [c for g in parsed.groups for c in _group(g, conjunctive)]
        for code in parsed.codes:
            clauses.append(
                wq.Or([wq.ConstantScoreQuery(wq.Term(f, code), s) for f, s in CODE_SCORES.items()])
            )
        main: wq.Query = wq.And(clauses) if conjunctive else wq.Or(clauses)
        boosts: list[wq.Query] = [
            wq.Term("title", t.text, boost=TITLE_BOOST) for t in parsed.terms
        ] + [wq.Phrase("title", list(p), boost=TITLE_BOOST) for p in parsed.phrases]
        boosts += [wq.Phrase("body", list(p)) for p in parsed.nearby]
        boosts += [_sequence(s) for s in parsed.boosted_sequences(conjunctive)]
        if boosts:
            main = wq.AndMaybe(main, wq.Or(boosts))
        searcher = self._searcher()
        if self.engine:
            try:
                engine = Engine(searcher, self._postings, self._columns)
                total, top = engine.top(main, _allowed(engine, query), offset + limit)
            except Unsupported:
                pass
            except AttributeError:  # another Whoosh release reads its files otherwise
                log.warning("Whoosh query engine unusable: Whoosh searches itself", exc_info=True)
                self.engine = False
            else:
                return total, self._page(searcher, top[offset : offset + limit])
        # Whoosh's own search: len() counts by running the query again (docs_for_query).
        # Not optimize=False: its collector still prunes matchers below the top N's score,
        # so the total it counts on the way is short (78 of 300 in the test).
        results = searcher.search(main, filter=_filter(query), limit=max(1, offset + limit))
        return len(results), self._page(searcher, results.top_n[offset : offset + limit])

    def _page(
        self, searcher: Searcher, page: list[tuple[float, int]]
    ) -> list[tuple[int, float, Any]]:
        if not page:
            return []
        ids = self._ids(searcher)
        return [(int(ids[docnum]), score, docnum) for score, docnum in page]

    def _load_pages(self, refs: list[Any]) -> list[list[PageText]]:
        searcher = self._searcher()
        stored = [searcher.stored_fields(ref).get("pages", []) for ref in refs]
        return [[PageText.from_json(p) for p in pages] for pages in stored]

    def _idf(self, token: str) -> float:
        searcher = self._searcher()
        return bm25_idf(searcher.doc_count(), searcher.doc_frequency("body", token))


def _phrase(field: str, tokens: tuple[str, ...], boost: float = 1.0) -> wq.Query:
    if len(tokens) == 1:
        return wq.Term(field, tokens[0], boost=boost)
    return wq.Phrase(field, list(tokens), boost=boost)


def _sequence(seq: ExactSequence) -> wq.Query:
    """``SEQUENCE_SCORE`` for a document holding ``seq`` as written: its tokens in a row, or
    its bigrams in a row with its Latin/digit ends as whole tokens."""
    ways = [_phrase("body", seq.tokens)]
    if seq.grams:
        grams = [_phrase("grams", seq.grams)]
        ways.append(wq.And(grams + [wq.Term("body", t) for t in seq.anchors]))
    return wq.ConstantScoreQuery(wq.Or(ways), SEQUENCE_SCORE)


def _grams_query(grams: tuple[str, ...]) -> wq.Query:
    """An unquoted chunk's bigrams, all of them, anywhere in the document.

    Not a phrase, unlike the other backends (and unlike quoted phrases here): Whoosh checks a phrase by decoding the
    positions of every document holding all its terms, in Python (a chunk such as 完成率 in
    20,000 documents: 3.3 s). Without positions a query stays fast (p95 0.55 s instead of
    2.6 s at 20,000 documents); what it adds beyond the phrase are documents holding every
    bigram of the chunk but never together, which rank low (no adjacency boost).
    """
    if len(grams) == 1:
        return wq.Term("grams", grams[0], boost=GRAMS_BOOST)
    return wq.And([wq.Term("grams", g) for g in dict.fromkeys(grams)], boost=GRAMS_BOOST)


def _group(group: Group, conjunctive: bool) -> list[wq.Query]:
    """The group's clause (with AND), or its alternatives one by one (with OR)."""
    if group.phrase:
        words = [_phrase("body", group.phrase)]
    elif conjunctive and len(group.terms) > 1:
        words = [wq.And([_word("body", t) for t in group.terms])]
    else:
        words = [_word("body", t) for t in group.terms]
    if group.grams and group.phrase:  # asked for as a phrase: its bigrams in a row
        words.append(_phrase("grams", group.grams, GRAMS_BOOST))
    elif group.grams:
        words.append(_grams_query(group.grams))
    if conjunctive and len(words) > 1:
        return [wq.Or(words)]
    return words


def _word(field: str, term: QueryTerm) -> wq.Query:
    q: wq.Query = wq.Term(field, term.text)
    if term.parts:
        q = wq.Or([q, wq.Phrase(field, list(term.parts))])
    return q


def _allowed(engine: Engine, query: SearchQuery) -> np.ndarray | None:
    """The filters of ``query`` as a mask over the engine's document numbers (None: all)."""
    mask: np.ndarray | None = None
    terms = [
        ("framework_id", None if query.framework_id is None else str(query.framework_id)),
        ("indicator_codes", query.indicator.strip() if query.indicator else None),
        ("file_type", query.file_type or None),
        ("status", query.status or None),
    ]
    for field, value in terms:
        if value is not None:
            docs, _ = engine.term(field, value)
            keep = np.zeros(engine.doc_count, dtype=bool)
            keep[docs] = True
            mask = keep if mask is None else mask & keep
    if query.doc_ids is not None:
        allowed = np.fromiter(query.doc_ids, dtype=np.int64, count=len(query.doc_ids))
        keep = np.isin(engine.doc_ids(), allowed)
        mask = keep if mask is None else mask & keep
    return mask


def _filter(query: SearchQuery) -> wq.Query | None:
    parts: list[wq.Query] = []
    if query.framework_id is not None:
        parts.append(wq.Term("framework_id", str(query.framework_id)))
    if query.indicator:
        parts.append(wq.Term("indicator_codes", query.indicator.strip()))
    if query.file_type:
        parts.append(wq.Term("file_type", query.file_type))
    if query.status:
        parts.append(wq.Term("status", query.status))
    if query.doc_ids is not None:
        parts.append(wq.Or([wq.Term("doc_id", str(i)) for i in sorted(query.doc_ids)]))
    return wq.And(parts) if parts else None


def _write_doc(writer: IndexWriter, prepared: PreparedDoc) -> None:
    doc = prepared.doc
    fields: dict[str, Any] = {
        "doc_id": str(doc.doc_id),
        "title": Pretokenized(doc.title, [(prepared.title, 0)]),
        "body": _body(prepared),
        "grams": _grams(prepared),
        "pages": [page.to_json() for page, _ in prepared.pages],
    }
    if doc.code:
        fields["code"] = doc.code
    if doc.entry_codes:
        fields["entry_codes"] = " ".join(doc.entry_codes)
    if doc.indicator_codes:
        fields["indicator_codes"] = " ".join(doc.indicator_codes)
    if doc.framework_id is not None:
        fields["framework_id"] = str(doc.framework_id)
    if doc.file_type:
        fields["file_type"] = doc.file_type
    if doc.status:
        fields["status"] = doc.status
    if doc.year is not None:
        fields["year"] = doc.year
    writer.add_document(**fields)


def _abandon(writer: IndexWriter) -> None:
    """Give up a writer whose commit failed: Whoosh releases its lock only when a commit
    completes, so after a failed one (a full disk, a broken segment) every later write of
    this process would wait out ``lock_timeout`` and fail."""
    try:
        writer.cancel()
    except Exception:
        lock = getattr(writer, "writelock", None)
        if lock is not None and getattr(lock, "fd", None) is not None:
            lock.release()


def _is_lock_error(e: Exception) -> bool:
    return isinstance(e, whoosh_index.LockError)
