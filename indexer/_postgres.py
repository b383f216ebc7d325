"""PostgreSQL backend: full-text search in a shared database, for several app servers.

PostgreSQL cannot segment Chinese, and the ``simple`` configuration's parser would cut our
tokens again (``2.3.4-1`` into ``2.3.4`` and ``-1``, ``1+x`` into ``1`` and ``x``) and
number them itself. So nothing is parsed by PostgreSQL: documents are tokenized here
(``prepare``) and sent as ``tsvector`` literals with OUR tokens and positions (sub-words
at the position of their word, as in the other backends), and queries as ``tsquery``
literals built from the ``ParsedQuery`` (a cast, not ``to_tsquery``, so a token is taken
as it is). The configuration is therefore ``simple`` in effect: no stemming, no stop words.

Tables (``table_prefix`` + name, created on first open):

- ``documents``: one row per document, the layout of ``indexer._backend``: filter columns,
  ``tsv`` (title tokens weighted A, then each page weighted B, one free position between
  them), its summary ``rank_tsv`` and ``pages`` (the JSON of ``PageText`` per page).
  Words, ranking, the AND, the count, filters and pagination run on these rows. GIN
  indexes on ``tsv`` and the codes.
- ``pages``: one row per page (page 0 is the title) with the page's own ``tsvector``, for
  phrases only. A tsvector keeps positions up to 16,383 and 256 positions per lexeme, so
  in the document's vector a phrase on page 40 of a long report, or the 300th 学生 of a
  document, has no position left; a page rarely reaches either limit, and a phrase never
  spans two pages when it is matched within one page.

Ranking is ``ts_rank_cd`` (cover density, a title word counting four times a page word,
divided by 1 + log of the document length) plus the constant scores of codes that match.
PostgreSQL has no BM25 (no idf in the rank), so among documents that match alike the order
can differ from Whoosh and tantivy; ties go to the lower doc_id. A GIN index finds the
matches without reading their vectors, but ranking reads each match's vector (10-20 KB,
out of line in TOAST): a common word in 20,000 documents would take a second. So the
count comes first, and more than ``EXACT_RANK`` matches are ranked with ``rank_tsv``, a
summary kept in the row (the title, and the ``SUMMARY_WORDS`` most frequent words of the
pages with their first positions): documents where the word is frequent or in the title
come first, the others follow (ranked with ``ts_rank``, a fifth of the cost). ``_idf``
takes a common word's document count from ANALYZE's statistics of the vectors and counts
the others with the GIN index, in the same statement as the matches.

Several app servers write at once: rows are upserted (``INSERT ... ON CONFLICT``) and
deleted by id, in doc_id order; the only locks are the rows' own. ``lock_timeout`` bounds
the wait for a row another writer holds (``IndexLockedError``); a deadlock is retried.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from indexer._backend import (
    LOCK_TIMEOUT,
    PreparedDoc,
    SearchBackend,
    bm25_idf,
    prepare_batches,
)
from indexer._query import (
    SEQUENCE_SCORE,
    STOP_WORDS,
    ExactSequence,
    Group,
    ParsedQuery,
    QueryTerm,
)
from indexer._snippets import PageText
from indexer._tokenize import RawToken, char_grams
from indexer._types import (
    IndexDoc,
    IndexerError,
    IndexLayoutError,
    IndexLockedError,
    SearchQuery,
)

#: Written as the comment of the documents table; a table with another comment is refused.
LAYOUT = "evidence search index, layout 3"
#: ts_rank_cd weights for {D, C, B, A}: pages are B, the title A (4x: 1 + TITLE_BOOST 3).
RANK_WEIGHTS = [0.1, 0.1, 0.25, 1.0]
#: ts_rank_cd normalization: divide by 1 + log(document length), as BM25 favours short ones.
RANK_NORMALIZATION = 1
CODE_SCORES = {"code": 30.0, "entry_codes": 20.0, "indicator_codes": 10.0}
#: Matches ranked with the whole vector of each; more are ranked with their summaries.
EXACT_RANK = 1000
#: The summary (``rank_tsv``): the title, and the most frequent words of the pages with
#: their first positions. Small enough to stay in the table row (no TOAST read).
SUMMARY_WORDS = 32
SUMMARY_POSITIONS = 4
#: Seconds the lexeme statistics (for idf) are kept before they are read again.
STATS_SECONDS = 60.0
#: tsvector limits (PostgreSQL clamps larger positions and drops positions past 256).
MAX_POSITION = 16383
MAX_POSITIONS = 256
MAX_LEXEME_BYTES = 2046
MAX_TSVECTOR_BYTES = 1_000_000  # PostgreSQL refuses 1 MB
_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_RETRIES = 5  # deadlocks between writers: the database aborts one, it tries again


class PostgresBackend(SearchBackend):
    """Search index in PostgreSQL tables, shared by every process that opens it."""

    kind = "postgres"

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        url: str | None = None,
        path: str | None = None,
        table_prefix: str = "search_",
        lock_timeout: float = LOCK_TIMEOUT,
        recreate: bool = False,
    ) -> None:
        """Open (creating if needed) the tables on ``engine``, or on a database ``url``.

        ``path`` is ``open_index``'s second argument: for this backend, a database URL.
        """
        if not _PREFIX.fullmatch(table_prefix):
            raise IndexerError(f"table_prefix must be a lowercase identifier: {table_prefix!r}")
        self.lock_timeout = lock_timeout
        self._owns_engine = engine is None
        if engine is None:
            engine = _engine_for(url or (str(path) if path is not None else None))
        if engine.dialect.name != "postgresql":
            raise IndexerError(
                f"the postgres search backend needs a PostgreSQL database, not {engine.dialect.name}"
            )
        self.engine = engine
        self.table_prefix = table_prefix
        self._docs = f'"{table_prefix}documents"'
        self._pages = f'"{table_prefix}pages"'
        self._local = threading.local()
        self._stats: tuple[float, tuple[int, dict[str, float]] | None] | None = None
        self._closed = False
        try:
            self._create_tables(recreate)
        except SQLAlchemyError as e:
            self.close()
            raise IndexerError(f"cannot open the PostgreSQL search index: {e}") from e
        except IndexerError:
            self.close()
            raise

    def _create_tables(self, recreate: bool = False) -> None:
        docs, pages, p = self._docs, self._pages, self.table_prefix
        with self.engine.begin() as conn:
            # two processes opening a new index at once would race on the catalog
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": docs})
            if recreate:
                conn.execute(text(f"DROP TABLE IF EXISTS {pages}, {docs}"))
            comment = conn.execute(
                text("SELECT obj_description(to_regclass(:t), 'pg_class')"), {"t": docs}
            ).scalar()
            exists = conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": docs}).scalar()
            if exists:
                if comment != LAYOUT:
                    raise IndexLayoutError(
                        f"the table {docs} has another layout ({comment!r}): rebuild it"
                    )
                return
            for statement in [
                f"""CREATE TABLE {docs} (
                    doc_id bigint PRIMARY KEY,
                    framework_id bigint,
                    file_type text NOT NULL DEFAULT '',
                    status text NOT NULL DEFAULT '',
                    year integer,
                    code text NOT NULL DEFAULT '',
                    entry_codes text[] NOT NULL DEFAULT '{{}}',
                    indicator_codes text[] NOT NULL DEFAULT '{{}}',
                    tsv tsvector NOT NULL,
                    rank_tsv tsvector NOT NULL,
                    pages text NOT NULL
                )""",
                f"""CREATE TABLE {pages} (
                    doc_id bigint NOT NULL REFERENCES {docs} ON DELETE CASCADE,
                    page integer NOT NULL,
                    tsv tsvector NOT NULL,
                    grams tsvector NOT NULL,
                    PRIMARY KEY (doc_id, page)
                )""",
                f'CREATE INDEX "{p}documents_tsv" ON {docs} USING gin (tsv)',
                f'CREATE INDEX "{p}documents_code" ON {docs} (code)',
                f'CREATE INDEX "{p}documents_entry_codes" ON {docs} USING gin (entry_codes)',
                f'CREATE INDEX "{p}documents_indicator_codes" ON {docs} '
                "USING gin (indicator_codes)",
                f'CREATE INDEX "{p}pages_tsv" ON {pages} USING gin (tsv)',
                f'CREATE INDEX "{p}pages_grams" ON {pages} USING gin (grams)',
                f"COMMENT ON TABLE {docs} IS '{LAYOUT}'",
            ]:
                conn.execute(text(statement))

    # -- writing --

    @contextlib.contextmanager
    def _writer(self) -> Iterator[Connection]:
        """A write transaction; waiting for another writer's rows raises IndexLockedError."""
        if self._closed:
            raise IndexerError("the index is closed")
        try:
            with self.engine.begin() as conn:
                ms = max(1, int(self.lock_timeout * 1000))
                conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
                yield conn
        except DBAPIError as e:
            if _sqlstate(e) == "55P03":
                raise IndexLockedError(
                    f"index rows locked by another writer for more than {self.lock_timeout:g} s"
                ) from e
            raise

    def _write(self, work: Callable[[Connection], object]) -> None:
        """Run ``work(conn)`` in a write transaction, again if the database saw a deadlock."""
        for attempt in range(_RETRIES):
            try:
                with self._writer() as conn:
                    work(conn)
                return
            except DBAPIError as e:
                if _sqlstate(e) in ("40P01", "40001") and attempt < _RETRIES - 1:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise IndexerError(f"cannot write the PostgreSQL search index: {e}") from e
            except SQLAlchemyError as e:
                raise IndexerError(f"cannot write the PostgreSQL search index: {e}") from e

    def add(self, docs: Iterable[IndexDoc]) -> None:
        for batch in prepare_batches(docs):
            batch.sort(key=lambda p: p.doc.doc_id)  # the same lock order in every writer
            rows, pages = [], []
            for prepared in batch:
                rows.append(_document_row(prepared))
                pages += _page_rows(prepared)
                prepared.release()
            self._write(functools.partial(self._store, rows, pages))

    def _store(
        self, rows: list[dict[str, Any]], pages: list[dict[str, Any]], conn: Connection
    ) -> None:
        """Upsert the documents' rows (locking them), then replace their pages."""
        conn.execute(text(self._upsert_sql()), rows)
        ids = [row["doc_id"] for row in rows]
        conn.execute(text(f"DELETE FROM {self._pages} WHERE doc_id = ANY(:ids)"), {"ids": ids})
        if pages:
            conn.execute(
                text(
                    f"INSERT INTO {self._pages} (doc_id, page, tsv, grams) "
                    "VALUES (:doc_id, :page, CAST(:tsv AS tsvector), CAST(:grams AS tsvector))"
                ),
                pages,
            )

    def _upsert_sql(self) -> str:
        columns = [
            "doc_id",
            "framework_id",
            "file_type",
            "status",
            "year",
            "code",
            "entry_codes",
            "indicator_codes",
            "tsv",
            "rank_tsv",
            "pages",
        ]
        values = ", ".join(
            f"CAST(:{c} AS tsvector)" if c.endswith("tsv") else f":{c}" for c in columns
        )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
        return (
            f"INSERT INTO {self._docs} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT (doc_id) DO UPDATE SET {updates}"
        )

    def delete(self, doc_ids: Iterable[int]) -> None:
        ids = sorted(set(doc_ids))
        if not ids:
            return
        sql = text(f"DELETE FROM {self._docs} WHERE doc_id = ANY(:ids)")  # pages cascade
        self._write(lambda conn: conn.execute(sql, {"ids": ids}))

    def clear(self) -> None:
        sql = text(f"DELETE FROM {self._docs}")  # not TRUNCATE: readers are not blocked
        self._write(lambda conn: conn.execute(sql))

    # -- reading --

    def _read(
        self, sql: str, params: dict[str, Any] | None = None, *, search: bool = False
    ) -> list[Any]:
        if self._closed:
            raise IndexerError("the index is closed")
        try:
            with self.engine.connect() as conn:
                if search:
                    # the planner does not count the cost of reading a vector out of the
                    # TOAST table: a sequential scan reads every document's, the GIN index
                    # none (a word needs no recheck), ranking then only the matches'
                    conn.execute(text("SET LOCAL enable_seqscan = off"))
                return list(conn.execute(text(sql), params or {}))  # then rolled back
        except SQLAlchemyError as e:
            raise IndexerError(f"cannot read the PostgreSQL search index: {e}") from e

    def doc_ids(self) -> set[int]:
        return {row[0] for row in self._read(f"SELECT doc_id FROM {self._docs}")}

    def count(self) -> int:
        return int(self._read(f"SELECT count(*) FROM {self._docs}")[0][0])

    def close(self) -> None:
        if not self._closed and self._owns_engine:
            self.engine.dispose()
        self._closed = True

    # -- search --

    def _match_documents(
        self, parsed: ParsedQuery, query: SearchQuery, conjunctive: bool, limit: int, offset: int
    ) -> tuple[int, list[tuple[int, float, Any]]]:
        sql = _SearchSql(self._docs, self._pages)
        condition = " AND ".join([sql.match(parsed, conjunctive), *sql.filters(query)])
        # first the count (GIN only, no vector read), with the idf counts of the query's
        # tokens for the pages of the hits; then the ranking, exact for up to EXACT_RANK
        tokens = _query_tokens(parsed)
        counts = self._count(condition, sql.params, tokens)
        total = counts.pop(None)
        self._local.df = counts
        if total == 0 or offset >= total or limit == 0:
            return total, []
        score = sql.score(parsed, "tsv" if total <= EXACT_RANK else "rank_tsv", conjunctive)
        rows = self._read(
            f"""SELECT m.doc_id, m.score, d.pages
                FROM (
                    SELECT d.doc_id, {score} AS score
                    FROM {self._docs} d
                    WHERE {condition}
                    ORDER BY score DESC, d.doc_id
                    LIMIT :limit OFFSET :offset
                ) m
                JOIN {self._docs} d ON d.doc_id = m.doc_id
                ORDER BY m.score DESC, m.doc_id""",
            {**sql.params, "limit": limit, "offset": offset},
            search=True,
        )
        return total, [(int(r.doc_id), float(r.score), r.pages) for r in rows]

    def _count(
        self, condition: str, params: dict[str, Any], tokens: Sequence[str]
    ) -> dict[str | None, int]:
        """{None: documents matching ``condition``, "": all documents, token: documents
        containing it} in one statement.

        A token found in the planner's statistics of the vectors (the lexemes in the most
        documents, kept by ANALYZE) takes its count from there: counting a common word
        visits most of the table, a rare one a few rows.
        """
        stats = self._lexeme_stats()
        parts = [f"(SELECT count(*) FROM {self._docs} d WHERE {condition})"]
        if stats is None:
            parts.append(f"(SELECT count(*) FROM {self._docs})")
        params = dict(params)
        counted: list[str] = []
        known: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if stats is not None and token in stats[1]:
                known[token] = round(stats[1][token] * stats[0])
            elif not _fits(token):
                known[token] = 0  # longer than any indexed word
            else:
                params[f"df{i}"] = _lexeme(token)
                parts.append(
                    f"(SELECT count(*) FROM {self._docs} WHERE tsv @@ CAST(:df{i} AS tsquery))"
                )
                counted.append(token)
        row = list(self._read(f"SELECT {', '.join(parts)}", params, search=True)[0])
        out: dict[str | None, int] = {None: int(row.pop(0))}
        out[""] = stats[0] if stats is not None else int(row.pop(0))
        out.update(known)
        out.update({t: int(v) for t, v in zip(counted, row, strict=True)})
        return out

    def _lexeme_stats(self) -> tuple[int, dict[str, float]] | None:
        """(documents, {lexeme: fraction of documents}) from the last ANALYZE, if any;
        read again after STATS_SECONDS."""
        cached = self._stats
        if cached is not None and time.monotonic() - cached[0] < STATS_SECONDS:
            return cached[1]
        row = self._read(
            """SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               LEFT JOIN pg_stats s
                 ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'tsv'
               WHERE c.oid = to_regclass(:t)""",
            {"t": self._docs},
        )[0]
        stats = None
        if row[0] > 0 and row[1]:
            stats = (int(row[0]), dict(zip(row[1], row[2], strict=False)))
        self._stats = (time.monotonic(), stats)
        return stats

    def _load_pages(self, refs: list[Any]) -> list[list[PageText]]:
        # the pages came with the hits (``_match_documents``): only the shown ones are read
        return [[PageText.from_json(p) for p in json.loads(ref)] for ref in refs]

    def _idf(self, token: str) -> float:
        """idf from the number of documents containing ``token``: the query's tokens were
        counted with the GIN index along with the matches (``_count``)."""
        df: dict[str | None, int] | None = getattr(self._local, "df", None)
        if df is None or token not in df:
            df = self._count("true", {}, [token])
            self._local.df = df
        return bm25_idf(df[""], df[token])


class _SearchSql:
    """The SQL fragments of one search: match condition, filters, score, with their params."""

    def __init__(self, docs: str, pages: str) -> None:
        self.docs = docs
        self.pages = pages
        self.params: dict[str, Any] = {"weights": RANK_WEIGHTS}

    def bind(self, value: object) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def tsquery(self, query: str) -> str:
        return f"CAST({self.bind(query)} AS tsquery)"

    def on_a_page(self, tokens: Sequence[str]) -> str:
        """The tokens stand together on one page (or in the title): a phrase."""
        return (
            f"d.doc_id IN (SELECT p.doc_id FROM {self.pages} p "
            f"WHERE p.tsv @@ {self.tsquery(_phrase(tokens))})"
        )

    def code(self, code: str) -> str:
        array = f"CAST({self.bind([code])} AS text[])"
        return (
            f"(d.code = {self.bind(code)} OR d.entry_codes @> {array} "
            f"OR d.indicator_codes @> {array})"
        )

    def grams_on_a_page(self, grams: Sequence[str]) -> str:
        """The character bigrams stand together on one page (or in the title)."""
        if not all(_fits(g) for g in grams):
            return "false"
        return (
            f"d.doc_id IN (SELECT p.doc_id FROM {self.pages} p "
            f"WHERE p.grams @@ {self.tsquery(_phrase(grams))})"
        )

    def _term(self, term: QueryTerm) -> tuple[str | None, str | None]:
        """(a tsquery the document's vector must match, or None; an exact condition, or
        None). A word with parts matches the word or the phrase of its parts on a page."""
        if not term.parts:
            return (_lexeme(term.text), None) if _fits(term.text) else (None, "false")
        word = _lexeme(term.text) if _fits(term.text) else None
        parts = [p for p in term.parts if _fits(p)]
        each = " & ".join(_lexeme(p) for p in parts)
        necessary = (f"({word} | ({each}))" if word else f"({each})") if parts else word
        alternatives = [f"d.tsv @@ {self.tsquery(word)}"] if word else []
        if len(parts) == len(term.parts):
            alternatives.append(self.on_a_page(parts))
        return necessary, f"({' OR '.join(alternatives)})" if alternatives else "false"

    def _group(self, group: Group) -> tuple[list[str], list[str]]:
        """(tsqueries the document's vector must match, exact conditions) of a group's words."""
        if group.phrase:
            if not all(_fits(t) for t in group.phrase):
                return [], ["false"]
            return [_lexeme(t) for t in dict.fromkeys(group.phrase)], [self.on_a_page(group.phrase)]
        necessary: list[str] = []
        exact: list[str] = []
        for term in group.terms:
            lexemes, condition = self._term(term)
            necessary += [lexemes] if lexemes else []
            exact += [condition] if condition else []
        return necessary, exact

    def match(self, parsed: ParsedQuery, conjunctive: bool) -> str:
        """Every clause (``conjunctive``) or any clause of the query matches the document.

        Words are lexemes of the document's vector. A phrase (and a word's parts, the
        alternative of a word) is looked up on the pages, as are a group's character
        bigrams. With AND, the words of groups without a bigram alternative go into the
        document's tsquery, so the GIN index narrows the documents first.
        """
        necessary: list[str] = []
        clauses: list[str] = []
        for group in parsed.groups:
            lexemes, exact = self._group(group)
            if not conjunctive:
                if group.phrase:
                    clauses += exact
                else:
                    clauses += [f"d.tsv @@ {self.tsquery(x)}" for x in lexemes] + exact
                if group.grams:
                    clauses.append(self.grams_on_a_page(group.grams))
                continue
            if not group.grams:
                necessary += lexemes
                clauses += exact
                continue
            words = [f"d.tsv @@ {self.tsquery(' & '.join(lexemes))}"] if lexemes else []
            words += exact
            clauses.append(
                f"(({' AND '.join(words) or 'false'}) OR {self.grams_on_a_page(group.grams)})"
            )
        clauses += [self.code(c) for c in parsed.codes]
        if not conjunctive:
            return "(" + " OR ".join(clauses or ["false"]) + ")"
        if necessary:
            clauses.insert(0, f"d.tsv @@ {self.tsquery(' & '.join(necessary))}")
        return "(" + " AND ".join(clauses or ["true"]) + ")"

    def filters(self, query: SearchQuery) -> list[str]:
        out = []
        if query.framework_id is not None:
            out.append(f"d.framework_id = {self.bind(query.framework_id)}")
        if query.indicator:
            out.append(
                f"d.indicator_codes @> CAST({self.bind([query.indicator.strip()])} AS text[])"
            )
        if query.file_type:
            out.append(f"d.file_type = {self.bind(query.file_type)}")
        if query.status:
            out.append(f"d.status = {self.bind(query.status)}")
        if query.doc_ids is not None:
            out.append(f"d.doc_id = ANY(CAST({self.bind(sorted(query.doc_ids))} AS bigint[]))")
        return out

    def sequence(self, seq: ExactSequence) -> str | None:
        """A page (or the title) holds ``seq`` as written: its tokens in a row, or its
        bigrams in a row with its Latin/digit ends as whole tokens; None if it cannot."""
        ways = []
        if all(_fits(t) for t in seq.tokens):
            ways.append(f"p.tsv @@ {self.tsquery(_phrase(seq.tokens))}")
        if seq.grams and all(_fits(g) for g in seq.grams + seq.anchors):
            grams = f"p.grams @@ {self.tsquery(_phrase(seq.grams))}"
            if seq.anchors:
                ends = " & ".join(_lexeme(a) for a in seq.anchors)
                grams += f" AND p.tsv @@ {self.tsquery(ends)}"
            ways.append(f"({grams})")
        if not ways:
            return None
        return f"d.doc_id IN (SELECT p.doc_id FROM {self.pages} p WHERE {' OR '.join(ways)})"

    def score(self, parsed: ParsedQuery, vector: str = "tsv", conjunctive: bool = True) -> str:
        """Cover density of the words, phrases and nearby chunks in ``vector`` (the
        document's, or its summary ``rank_tsv``), plus the code scores and
        ``SEQUENCE_SCORE`` for each identifier the document holds as written."""
        alternatives: list[str] = []
        for term in parsed.terms:
            options = [_lexeme(term.text)] if _fits(term.text) else []
            if term.parts and all(_fits(p) for p in term.parts):
                options.append(_phrase(term.parts))
            alternatives.extend(options)
        for phrase in parsed.phrases + parsed.nearby:
            if all(_fits(t) for t in phrase):
                alternatives.append(_phrase(phrase))
        parts = []
        if alternatives:
            rank_query = self.tsquery(" | ".join(dict.fromkeys(alternatives)))
            # the summary path ranks thousands of rows: ts_rank costs a fifth of ts_rank_cd
            function = "ts_rank_cd" if vector == "tsv" else "ts_rank"
            parts.append(
                f"{function}(CAST(:weights AS real[]), d.{vector}, {rank_query}, "
                f"{RANK_NORMALIZATION})"
            )
        for code in parsed.codes:
            value, array = self.bind(code), f"CAST({self.bind([code])} AS text[])"
            parts.append(
                f"(CASE WHEN d.code = {value} THEN {CODE_SCORES['code']} ELSE 0 END"
                f" + CASE WHEN d.entry_codes @> {array} THEN {CODE_SCORES['entry_codes']} ELSE 0 END"
                f" + CASE WHEN d.indicator_codes @> {array}"
                f" THEN {CODE_SCORES['indicator_codes']} ELSE 0 END)"
            )
        for seq in parsed.boosted_sequences(conjunctive):
            condition = self.sequence(seq)
            if condition is not None:
                parts.append(f"(CASE WHEN {condition} THEN {SEQUENCE_SCORE} ELSE 0 END)")
        return "(" + " + ".join(f"CAST({p} AS float8)" for p in parts) + ")" if parts else "0.0"


# -- tsvector and tsquery literals --


def _quote(token: str) -> str:
    """A lexeme in tsvector/tsquery syntax: quoted, quotes doubled, backslashes escaped."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _lexeme(token: str) -> str:
    return _quote(token)


def _phrase(tokens: Sequence[str]) -> str:
    if len(tokens) == 1:
        return _quote(tokens[0])
    return "(" + " <-> ".join(_quote(t) for t in tokens) + ")"


def _fits(token: str) -> bool:
    """Whether a token can be a lexeme (PostgreSQL refuses words of 2 KB and more)."""
    if not token:
        return False
    return len(token) * 4 <= MAX_LEXEME_BYTES or len(token.encode()) <= MAX_LEXEME_BYTES


def _query_tokens(parsed: ParsedQuery) -> list[str]:
    """The tokens ``PageMatcher`` asks the idf of: words, codes, tokens of phrases."""
    tokens = [t.text for t in parsed.terms] + list(parsed.codes)
    tokens += [t for p in parsed.phrases + parsed.nearby for t in p]
    return list(dict.fromkeys(tokens))


def _tsvector(
    segments: Iterable[tuple[list[RawToken], str]],
    *,
    keep: Container[str] | None = None,
    max_positions: int = MAX_POSITIONS,
) -> str:
    """A tsvector literal of token segments (tokens, weight), each after the last one with
    one free position between them; positions are 1-based token ordinals. ``keep``: the
    tokens to include (default all).

    Positions are clamped to PostgreSQL's limits here rather than by PostgreSQL (past
    16,383 a token keeps one position, 16,383; past 256 positions a lexeme gets no more):
    every token stays a lexeme. A vector too long for PostgreSQL loses its positions.
    """
    positions: dict[str, list[str]] = {}
    last: dict[str, int] = {}
    offset = 1
    for tokens, weight in segments:
        if not tokens:
            continue
        for token, pos, _, _ in tokens:
            at = min(pos + offset, MAX_POSITION)
            seen = positions.get(token)
            if seen is None:
                if (keep is not None and token not in keep) or not _fits(token):
                    continue
                positions[token] = [f"{at}{weight}"]
                last[token] = at
            elif len(seen) < max_positions and last[token] != at:
                seen.append(f"{at}{weight}")
                last[token] = at
        offset += tokens[-1][1] + 2
    # size as PostgreSQL stores it: per lexeme 4 bytes + text, per position 2 bytes
    size = sum(len(t.encode()) + 6 + 2 * len(p) for t, p in positions.items())
    if size > MAX_TSVECTOR_BYTES:
        lexemes, total = [], 0
        for token in positions:
            total += len(token.encode()) + 4
            if total > MAX_TSVECTOR_BYTES:
                break
            lexemes.append(_quote(token))
        return " ".join(lexemes)
    return " ".join(f"{_quote(t)}:{','.join(p)}" for t, p in positions.items())


def _document_row(prepared: PreparedDoc) -> dict[str, Any]:
    doc = prepared.doc
    segments = [(prepared.title, "A")] + [(tokens, "B") for _, tokens in prepared.pages]
    frequent = Counter(
        t[0] for _, tokens in prepared.pages for t in tokens if t[0] not in STOP_WORDS
    )
    summary = {t for t, _ in frequent.most_common(SUMMARY_WORDS)}
    summary.update(t[0] for t in prepared.title)
    return {
        "doc_id": doc.doc_id,
        "framework_id": doc.framework_id,
        "file_type": doc.file_type or "",
        "status": doc.status or "",
        "year": doc.year,
        "code": doc.code or "",
        "entry_codes": list(doc.entry_codes),
        "indicator_codes": list(doc.indicator_codes),
        "tsv": _tsvector(segments),
        "rank_tsv": _tsvector(segments, keep=summary, max_positions=SUMMARY_POSITIONS),
        "pages": json.dumps([page.to_json() for page, _ in prepared.pages], ensure_ascii=False),
    }


def _page_rows(prepared: PreparedDoc) -> list[dict[str, Any]]:
    """The title (page 0) and each page with tokens, for phrases and character bigrams."""
    doc_id = prepared.doc.doc_id
    pages = [(0, prepared.title, prepared.title_norm)]
    pages += [(page.number, tokens, page.norm) for page, tokens in prepared.pages]
    return [
        {
            "doc_id": doc_id,
            "page": number,
            "tsv": _tsvector([(tokens, "")]),
            "grams": _tsvector([([(g, i, 0, 0) for i, g in enumerate(char_grams(norm))], "")]),
        }
        for number, tokens, norm in pages
        if tokens
    ]


# -- connections --


def _engine_for(url: str | None) -> Engine:
    if not url:
        raise IndexerError("the postgres search backend needs engine=... or a database URL")
    try:
        parsed = make_url(url)
    except Exception as e:
        raise IndexerError(f"not a database URL: {url!r}") from e
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _sqlstate(e: DBAPIError) -> str | None:
    return getattr(e.orig, "sqlstate", None)
