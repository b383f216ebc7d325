"""Whole-array evaluation of the Whoosh backend's queries (numpy), on Whoosh's own index.

Whoosh's matchers walk the postings one document at a time in Python, unpickle the
positions of every posting they pass, and count the hits in a second pass over them: at
20,000 documents a query of three common words took 0.5-0.8 s, nearly all of it there
(cProfile: collecting 60 %, counting 38 %, snippets under 1 %). Here, on the same index
files and with the same results:

- a term's postings are read block by block into arrays of document numbers and term
  frequencies (kept in a cache per segment: segments never change, only their deletions,
  which are applied at each search);
- AND, OR and filters are operations on sorted arrays; the count is the size of the
  matched set, computed once;
- BM25F is Whoosh's formula with Whoosh's statistics (idf, average field length, its
  one-byte field lengths), on whole arrays: the same scores, so the same order;
- positions are read only to check phrases: a phrase the query requires, on the
  documents holding all its words; an optional one (the words of a chunk together, an
  identifier as written, a title phrase), only for the best candidates, in the order of
  the most they could score, until the top N is certain (a phrase scores as the sum of
  its words, as in Whoosh, so what it could add is known before its positions are read),
  and only from the blocks holding those documents.

A query with a node this module does not know is left to Whoosh (``Unsupported``).
"""

from __future__ import annotations

import heapq
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pickle import loads
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.matching import ListMatcher
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

#: Whoosh's BM25F parameters (``scoring.BM25F()``, the searcher's default weighting).
B = 0.75
K1 = 1.2
#: Bytes of decoded postings kept per index (document numbers and frequencies).
CACHE_BYTES = 64 * 1024 * 1024
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
_EMPTY_DOCS = np.zeros(0, dtype=np.int64)
_EMPTY_SCORES = np.zeros(0, dtype=np.float64)


class Unsupported(Exception):
    """The query has a node this module does not evaluate: let Whoosh run it."""


@dataclass(frozen=True, slots=True)
class Sparse:
    """Matched documents (global document numbers, sorted, unique) and their scores."""

    docs: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.docs)


_NONE = Sparse(_EMPTY_DOCS, _EMPTY_SCORES)


@dataclass(frozen=True, slots=True)
class _Postings:
    """One term's postings in one segment: local document numbers, frequencies, and
    where each block starts (index of its first posting, file offset) to read its
    positions later; inline postings (rare terms) keep their values."""

    ids: np.ndarray
    tf: np.ndarray
    block_starts: np.ndarray
    block_offsets: tuple[int, ...]
    values: tuple[bytes, ...] | None

    @property
    def nbytes(self) -> int:
        return int(self.ids.nbytes + self.tf.nbytes + self.block_starts.nbytes) + 200


class PostingCache:
    """Decoded postings by (segment, field, term), least recently used out first."""

    def __init__(self, max_bytes: int = CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str, bytes], _Postings] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, bytes]) -> _Postings | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str, bytes], item: _Postings) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._items[key] = item
            self._bytes += item.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


class _SegmentColumns:
    """Per segment: field lengths (as Whoosh decodes them) and doc_id values, read once."""

    def __init__(self) -> None:
        self.lengths: dict[str, np.ndarray] = {}
        self.doc_ids: np.ndarray | None = None


class Engine:
    """Evaluates Whoosh query trees on one searcher (one thread's view of the index)."""

    def __init__(
        self,
        searcher: Searcher,
        cache: PostingCache,
        columns: dict[str, _SegmentColumns],
    ) -> None:
        self.searcher = searcher
        self.cache = cache
        self.columns = columns
        self.schema = searcher.schema
        reader = searcher.reader()
        self.segments: list[tuple[Any, int, str]] = []
        live_parts = []
        for segreader, offset in reader.leaf_readers():
            segid = getattr(segreader, "_segid", None)
            if segid is None or not hasattr(segreader, "_terms"):
                raise Unsupported("not a Whoosh 3 segment reader")
            self.segments.append((segreader, offset, segid))
            n = segreader.doc_count_all()
            live = np.ones(n, dtype=bool)
            deleted = segreader.deleted_docs_set
            if deleted:
                live[np.fromiter(deleted, dtype=np.int64, count=len(deleted))] = False
            live_parts.append(live)
        self.live = np.concatenate(live_parts) if live_parts else np.zeros(0, dtype=bool)
        self._offsets = np.asarray([offset for _, offset, _ in self.segments], dtype=np.int64)
        if len(columns) > 2 * len(self.segments) + 8:  # segments merged away since
            current = {segid for _, _, segid in self.segments}
            for segid in [s for s in list(columns) if s not in current]:
                columns.pop(segid, None)
        self.doc_count = len(self.live)
        self._terms: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self._blocks: dict[tuple[str, str, bytes, int], tuple[bytes, ...]] = {}
        self._relaxed: dict[int, tuple[Sparse, bool]] = {}
        self._lengths: dict[str, np.ndarray] = {}
        self._scorers: dict[tuple[str, str], Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}

    # -- columns -------------------------------------------------------------------------

    def _segment_columns(self, segid: str) -> _SegmentColumns:
        cols = self.columns.get(segid)
        if cols is None:
            cols = self.columns.setdefault(segid, _SegmentColumns())
        return cols

    def field_lengths(self, field: str) -> np.ndarray:
        """Every document's length of ``field`` (global document numbers)."""
        out = self._lengths.get(field)
        if out is None:
            parts = []
            for segreader, _, segid in self.segments:
                cols = self._segment_columns(segid)
                lengths = cols.lengths.get(field)
                if lengths is None:
                    lengths = _read_lengths(segreader, field)
                    cols.lengths[field] = lengths
                parts.append(lengths)
            out = np.concatenate(parts) if parts else np.zeros(0)
            self._lengths[field] = out
        return out

    def doc_ids(self) -> np.ndarray:
        """The ``doc_id`` of every document (global document numbers; -1 if none)."""
        parts = []
        for segreader, _, segid in self.segments:
            cols = self._segment_columns(segid)
            if cols.doc_ids is None:
                n = segreader.doc_count_all()
                if n and segreader.has_column("doc_id"):
                    column = segreader.column_reader("doc_id")
                    cols.doc_ids = np.array([int(v or -1) for v in column], dtype=np.int64)
                else:
                    cols.doc_ids = np.full(n, -1, dtype=np.int64)
            parts.append(cols.doc_ids)
        return np.concatenate(parts) if parts else _EMPTY_DOCS

    # -- postings ------------------------------------------------------------------------

    def _segment_postings(
        self, segreader: Any, segid: str, field: str, tbytes: bytes
    ) -> _Postings | None:
        key = (segid, field, tbytes)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        if (field, tbytes) not in segreader:
            return None
        matcher = segreader._terms.matcher(field, tbytes, self.schema[field].format)
        postings = _decode(matcher)
        self.cache.put(key, postings)
        return postings

    def term(self, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(live global document numbers, term frequencies) of a term."""
        key = (field, text)
        found = self._terms.get(key)
        if found is not None:
            return found
        tbytes = self.schema[field].to_bytes(text) if field in self.schema else None
        docs, tfs = [], []
        if tbytes is not None:
            for segreader, offset, segid in self.segments:
                postings = self._segment_postings(segreader, segid, field, tbytes)
                if postings is not None and len(postings.ids):
                    docs.append(postings.ids.astype(np.int64) + offset)
                    tfs.append(postings.tf)
        if docs:
            all_docs = np.concatenate(docs)
            all_tf = np.concatenate(tfs).astype(np.float64)
            keep = self.live[all_docs]
            if not keep.all():
                all_docs, all_tf = all_docs[keep], all_tf[keep]
            found = (all_docs, all_tf)
        else:
            found = (_EMPTY_DOCS, _EMPTY_SCORES)
        self._terms[key] = found
        return found

    def positions(self, field: str, text: str, docnum: int) -> list[int]:
        """The positions of a term in one document (global document number)."""
        tbytes = self.schema[field].to_bytes(text)
        at = int(np.searchsorted(self._offsets, docnum, side="right")) - 1
        if at < 0:
            return []
        segreader, offset, segid = self.segments[at]
        postings = self._segment_postings(segreader, segid, field, tbytes)
        if postings is None:
            return []
        local = docnum - offset
        i = int(np.searchsorted(postings.ids, local))
        if i >= len(postings.ids) or postings.ids[i] != local:
            return []
        fmt = self.schema[field].format
        if postings.values is not None:
            return list(fmt.decode_positions(postings.values[i]))
        block = int(np.searchsorted(postings.block_starts, i, side="right")) - 1
        key = (segid, field, tbytes, block)
        values = self._blocks.get(key)
        if values is None:
            matcher = segreader._terms.matcher(field, tbytes, fmt)
            matcher._goto(postings.block_offsets[block])
            matcher._read_values()
            values = self._blocks[key] = tuple(matcher._values)
        return list(fmt.decode_positions(values[i - int(postings.block_starts[block])]))

    # -- scoring -------------------------------------------------------------------------

    def _scorer(self, field: str, text: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        key = (field, text)
        scorer = self._scorers.get(key)
        if scorer is None:
            searcher = self.searcher
            if not self.schema[field].scorable:

                def scorer(docs: np.ndarray, tf: np.ndarray) -> np.ndarray:
                    return tf

            else:
                idf = searcher.idf(field, text)
                avgfl = searcher.avg_field_length(field) or 1
                lengths = self.field_lengths(field)

                def scorer(docs: np.ndarray, tf: np.ndarray) -> np.ndarray:
                    fl = lengths[docs]
                    out: np.ndarray = idf * (
                        (tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl))
                    )
                    return out

            self._scorers[key] = scorer
        return scorer

    def term_hits(self, field: str, text: str, boost: float = 1.0) -> Sparse:
        docs, tf = self.term(field, text)
        if not len(docs):
            return _NONE
        scores = self._scorer(field, text)(docs, tf)
        return Sparse(docs, scores * boost if boost != 1.0 else scores)

    # -- evaluation ----------------------------------------------------------------------

    def evaluate(self, q: wq.Query) -> Sparse:
        """The documents matching ``q`` and their scores, as Whoosh scores them."""
        if isinstance(q, wq.Term):
            if q.fieldname not in self.schema:
                return _NONE
            return self.term_hits(q.fieldname, q.text, q.boost)
        if isinstance(q, wq.ConstantScoreQuery):
            hits = self.evaluate(q.child)
            return Sparse(hits.docs, np.full(len(hits.docs), float(q.score)))
        if isinstance(q, wq.Phrase):
            return self.phrase(q)
        if isinstance(q, wq.AndMaybe):
            main = self.evaluate(q.a)
            return add_optional(main, self.evaluate(q.b))
        if isinstance(q, (wq.And, wq.Or)) and type(q) in (wq.And, wq.Or):
            subs = q.subqueries
            if not subs:
                return _NONE
            parts = [self.evaluate(s) for s in subs]
            hits = intersect(parts) if isinstance(q, wq.And) else union(parts)
            if len(subs) > 1 and q.boost != 1.0:
                hits = Sparse(hits.docs, hits.scores * q.boost)
            return hits
        raise Unsupported(type(q).__name__)

    def phrase_candidates(self, q: wq.Phrase) -> Sparse:
        """Documents holding every word of the phrase, scored as if they held the phrase
        (a Whoosh phrase scores as the sum of its words)."""
        if q.fieldname not in self.schema or q.slop != 1:
            raise Unsupported("phrase with slop")
        parts = [self.term_hits(q.fieldname, w) for w in q.words]
        hits = intersect(parts)
        if q.boost != 1.0:
            hits = Sparse(hits.docs, hits.scores * q.boost)
        return hits

    def has_phrase(self, q: wq.Phrase, docnum: int) -> bool:
        """Whether document ``docnum`` has the words of ``q`` at consecutive positions."""
        starts: set[int] | None = None
        for i, word in enumerate(q.words):
            here = {p - i for p in self.positions(q.fieldname, word, docnum)}
            starts = here if starts is None else starts & here
            if not starts:
                return False
        return bool(starts)

    def phrase(self, q: wq.Phrase) -> Sparse:
        hits = self.phrase_candidates(q)
        if len(q.words) < 2 or not len(hits):
            return hits
        keep = np.fromiter(
            (self.has_phrase(q, int(d)) for d in hits.docs), dtype=bool, count=len(hits)
        )
        return Sparse(hits.docs[keep], hits.scores[keep])

    # -- optional parts, checked lazily -----------------------------------------------------

    def relaxed(self, q: wq.Query) -> tuple[Sparse, bool]:
        """(the documents that may match ``q`` with the most each may score, whether
        that needs checking with positions): ``q`` with its phrases as plain ANDs."""
        found = self._relaxed.get(id(q))
        if found is None:
            found = self._relaxed[id(q)] = self._relax(q)
        return found

    def _relax(self, q: wq.Query) -> tuple[Sparse, bool]:
        if isinstance(q, wq.Phrase):
            hits = self.phrase_candidates(q)
            return hits, len(q.words) > 1
        if isinstance(q, wq.ConstantScoreQuery):
            hits, positional = self.relaxed(q.child)
            return Sparse(hits.docs, np.full(len(hits.docs), float(q.score))), positional
        if isinstance(q, (wq.And, wq.Or)) and type(q) in (wq.And, wq.Or):
            subs = [self.relaxed(s) for s in q.subqueries]
            positional = any(p for _, p in subs)
            if not positional:
                return self.evaluate(q), False
            if isinstance(q, wq.Or):
                raise Unsupported("an OR of phrases scored by what matches")
            hits = intersect([h for h, _ in subs])
            if len(subs) > 1 and q.boost != 1.0:
                hits = Sparse(hits.docs, hits.scores * q.boost)
            return hits, True
        return self.evaluate(q), False

    def holds(self, q: wq.Query, docnum: int) -> bool:
        """Whether document ``docnum`` (a candidate of ``relaxed(q)``) matches ``q``."""
        if isinstance(q, wq.Phrase):
            return len(q.words) < 2 or self.has_phrase(q, docnum)
        if isinstance(q, wq.ConstantScoreQuery):
            return self.holds(q.child, docnum)
        if isinstance(q, wq.And):
            return all(self.holds(s, docnum) for s in q.subqueries)
        if isinstance(q, wq.Or):
            return any(self._may_hold(s, docnum) and self.holds(s, docnum) for s in q.subqueries)
        return True  # a term: a candidate holds it

    def _may_hold(self, q: wq.Query, docnum: int) -> bool:
        hits, _ = self.relaxed(q)
        i = int(np.searchsorted(hits.docs, docnum))
        return i < len(hits.docs) and int(hits.docs[i]) == docnum

    def constant_or(self, q: wq.ConstantScoreQuery) -> tuple[Sparse, bool]:
        """A constant score over an OR of alternatives (an identifier: its tokens in a
        row, or its bigrams in a row): candidates of any alternative."""
        child = q.child
        if isinstance(child, wq.Or) and type(child) is wq.Or:
            alternatives = [self.relaxed(s) for s in child.subqueries]
            hits = union([h for h, _ in alternatives])
            positional = any(p for _, p in alternatives)
            return Sparse(hits.docs, np.full(len(hits.docs), float(q.score))), positional
        return self.relaxed(q)

    def top(
        self, q: wq.Query, allow: np.ndarray | None, k: int
    ) -> tuple[int, list[tuple[float, int]]]:
        """(number of matching documents, the best ``k`` as (score, document number)),
        best first, ties by document number, as Whoosh orders them."""
        main_q, optional = (q.a, q.b) if isinstance(q, wq.AndMaybe) else (q, None)
        main = self.evaluate(main_q)
        if allow is not None and len(main):
            keep = allow[main.docs]
            main = Sparse(main.docs[keep], main.scores[keep])
        total = len(main)
        if not total or k <= 0:
            return total, []
        boosts: list[wq.Query] = []
        if optional is not None:
            boosts = list(optional.subqueries) if type(optional) is wq.Or else [optional]
        exact = main.scores.copy()
        lazy: list[tuple[wq.Query, Sparse]] = []  # positional boosts: (query, its bound)
        for b in boosts:
            if isinstance(b, wq.ConstantScoreQuery):
                hits, positional = self.constant_or(b)
            else:
                hits, positional = self.relaxed(b)
            hits = restrict(hits, main.docs)
            if not len(hits):
                continue
            if positional:
                lazy.append((b, hits))
            else:
                exact[np.searchsorted(main.docs, hits.docs)] += hits.scores
        if not lazy:
            return total, best(main.docs, exact, k)
        bound = exact.copy()
        for _, hits in lazy:
            bound[np.searchsorted(main.docs, hits.docs)] += hits.scores
        order = np.lexsort((main.docs, -bound))
        heap: list[tuple[float, int]] = []  # (score, -docnum): the worst of the top k first
        for i in order:
            doc = int(main.docs[i])
            if len(heap) >= k and (bound[i], -doc) < heap[0]:
                break
            score = float(exact[i])
            for b, hits in lazy:
                j = int(np.searchsorted(hits.docs, doc))
                if j < len(hits.docs) and int(hits.docs[j]) == doc and self.holds(b, doc):
                    score += float(hits.scores[j])
            item = (score, -doc)
            if len(heap) < k:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
        heap.sort(reverse=True)
        return total, [(s, -d) for s, d in heap]


# -- array operations ---------------------------------------------------------------------


def intersect(parts: Iterable[Sparse]) -> Sparse:
    """Documents in every part, scores summed."""
    ordered = sorted(parts, key=len)
    if not ordered:
        return _NONE
    docs, scores = ordered[0].docs, ordered[0].scores.copy()
    for part in ordered[1:]:
        if not len(docs):
            return _NONE
        docs, ia, ib = np.intersect1d(docs, part.docs, assume_unique=True, return_indices=True)
        scores = scores[ia] + part.scores[ib]
    return Sparse(docs, scores)


def union(parts: Iterable[Sparse]) -> Sparse:
    """Documents in any part, scores summed over the parts holding them."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return _NONE
    if len(parts) == 1:
        return parts[0]
    docs = np.unique(np.concatenate([p.docs for p in parts]))
    scores = np.zeros(len(docs))
    for part in parts:
        scores[np.searchsorted(docs, part.docs)] += part.scores
    return Sparse(docs, scores)


def restrict(hits: Sparse, docs: np.ndarray) -> Sparse:
    """``hits`` among ``docs`` (sorted)."""
    if not len(hits) or not len(docs):
        return _NONE
    i = np.searchsorted(docs, hits.docs)
    i[i >= len(docs)] = 0
    keep = docs[i] == hits.docs
    return Sparse(hits.docs[keep], hits.scores[keep])


def add_optional(main: Sparse, extra: Sparse) -> Sparse:
    """``main``'s documents, with ``extra``'s scores added where it matches too."""
    extra = restrict(extra, main.docs)
    scores = main.scores.copy()
    if len(extra):
        scores[np.searchsorted(main.docs, extra.docs)] += extra.scores
    return Sparse(main.docs, scores)


def best(docs: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[float, int]]:
    """The ``k`` best (score, document number): score descending, document number."""
    if len(docs) > 4 * k:
        cut = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[cut].min()
        pool = np.flatnonzero(scores >= threshold)  # ties at the threshold stay in
        docs, scores = docs[pool], scores[pool]
    order = np.lexsort((docs, -scores))[:k]
    return [(float(scores[i]), int(docs[i])) for i in order]


# -- reading Whoosh's files -----------------------------------------------------------------


def _decode(matcher: Any) -> _Postings:
    """Every posting of a term in one segment, block by block (no positions decoded)."""
    if isinstance(matcher, ListMatcher):  # inline postings of a rare term
        inline_ids = np.asarray(matcher._ids, dtype=np.int32)
        if matcher._weights is not None:
            inline_tf = np.asarray(matcher._weights, dtype=np.float32)
        else:
            weight = 1.0 if matcher._all_weights is None else matcher._all_weights
            inline_tf = np.full(len(inline_ids), weight, dtype=np.float32)
        values = tuple(matcher._values) if matcher._values is not None else None
        return _Postings(inline_ids, inline_tf, np.zeros(1, dtype=np.int64), (0,), values)
    if not isinstance(matcher, W3LeafMatcher):
        raise Unsupported(type(matcher).__name__)
    ids: list[int] = []  # per block: deltas from 0 (the first is the id itself)
    tf: list[float] = []
    sizes: list[int] = []
    offsets: list[int] = []
    position = matcher._baseoffset
    postfile = matcher._postfile
    while matcher.is_active():
        data = postfile.get(matcher._dataoffset, matcher._nextoffset - matcher._dataoffset)
        if matcher._compression:
            data = zlib.decompress(data)
        block_ids, weights, _ = loads(data)
        n = matcher._blocklength
        ids.extend(block_ids)
        if weights is None:
            tf.extend([1.0] * n)
        elif isinstance(weights, float):
            tf.extend([weights] * n)
        else:
            tf.extend(weights)
        sizes.append(n)
        offsets.append(position)
        position = matcher._nextoffset
        matcher._next_block()
    lengths = np.asarray(sizes, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if sizes else lengths
    ids_arr = np.asarray(ids, dtype=np.int64)
    if not matcher._byteids and len(ids_arr):  # delta_decode, block by block
        total = np.cumsum(ids_arr)
        before = np.where(starts > 0, total[starts - 1], 0)
        ids_arr = total - np.repeat(before, lengths)
    return _Postings(
        ids_arr.astype(np.int32),
        np.asarray(tf, dtype=np.float32),
        starts,
        tuple(offsets),
        None,
    )


def _read_lengths(segreader: Any, field: str) -> np.ndarray:
    """A segment's field lengths per document, as Whoosh's scorer reads them."""
    n = segreader.doc_count_all()
    perdoc = segreader._perdoc
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

    column = perdoc._cached_reader(_lenfield(field), LENGTHS_COLUMN)
    if column is None:
        return np.zeros(n)
    raw = np.fromiter((column[i] for i in range(n)), dtype=np.uint8, count=n)
    return _LENGTH_OF_BYTE[raw]
