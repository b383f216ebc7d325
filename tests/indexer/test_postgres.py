"""What only the PostgreSQL backend has: tsvector limits, row locks, its tables.

The search suite (test_search.py) runs on it too; these tests cover what the other
backends have no counterpart for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from config import settings_for_tests
from indexer import IndexDoc, IndexerError, IndexLockedError, Page, SearchQuery, open_index
from indexer._postgres import PostgresBackend

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not settings_for_tests()["postgres_url"],
        reason="PostgreSQL not configured (set EVIDENCE_TEST_POSTGRES_URL)",
    ),
]


@pytest.fixture
def index(postgres_url: str) -> Iterator[PostgresBackend]:
    backend = open_index("postgres", postgres_url, lock_timeout=10.0)
    assert isinstance(backend, PostgresBackend)
    yield backend
    backend.close()


def ids(backend: PostgresBackend, text: str, **kw: object) -> list[int]:
    return [h.doc_id for h in backend.search(SearchQuery(text, **kw)).hits]  # type: ignore[arg-type]


def test_phrase_past_the_limits_of_one_tsvector(index: PostgresBackend) -> None:
    """A tsvector keeps positions up to 16,383 and 256 per lexeme: in a document of
    20,000 tokens where 技能 came 3,900 times before, a phrase on the last page is still
    found (phrases are matched per page)."""
    pages = [Page(n, "教师参加了技能培训。" * 100) for n in range(1, 40)]
    pages.append(Page(40, "教师参加了技能比赛。" * 100 + "学生宿舍管理规定"))
    index.add([IndexDoc(1, "年度汇报", pages), IndexDoc(2, "其他", [Page(1, "比赛技能")])])
    result = index.search(SearchQuery('"学生宿舍管理"'))
    assert [(h.doc_id, h.pages) for h in result.hits] == [(1, [40])]
    result = index.search(SearchQuery('"技能比赛"'))
    assert [(h.doc_id, h.pages) for h in result.hits] == [(1, [40])]
    assert ids(index, "学生宿舍 培训") == [1]  # words: anywhere in the document


def test_too_long_a_word_is_not_an_error(index: PostgresBackend) -> None:
    """PostgreSQL refuses lexemes of 2 KB: such a token is left out of the index."""
    word = "a" * 3000
    index.add([IndexDoc(1, "附件", [Page(1, f"编码 {word} 结束")])])
    assert ids(index, "结束") == [1]
    assert ids(index, word) == []
    assert ids(index, f"{word} 结束") == [1]  # the AND fails, the OR finds the rest


def test_writers_wait_only_for_the_rows_they_share(
    index: PostgresBackend, postgres_url: str
) -> None:
    """No index-wide writer lock: another writer's uncommitted row of document 1 holds up
    a write of document 1 (IndexLockedError after lock_timeout), not of document 2."""
    index.add([IndexDoc(1, "原文", [Page(1, "内容")])])
    other = create_engine(postgres_url)
    try:
        with other.begin() as conn:
            conn.execute(text("SELECT 1 FROM search_documents WHERE doc_id = 1 FOR UPDATE"))
            index.lock_timeout = 0.3
            started = time.monotonic()
            with pytest.raises(IndexLockedError):
                index.add([IndexDoc(1, "被锁", [Page(1, "内容")])])
            assert 0.3 <= time.monotonic() - started < 5
            index.add([IndexDoc(2, "另一个", [Page(1, "内容")])])
    finally:
        other.dispose()
    index.add([IndexDoc(1, "解锁后", [Page(1, "内容")])])  # nothing was left behind
    assert (ids(index, "解锁后"), index.count()) == ([1], 2)


def test_threads_writing_the_same_documents(index: PostgresBackend) -> None:
    """Writers replacing the same documents at once (in any order) end with one row each."""
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            for round_ in range(3):
                order = list(range(1, 41))[:: 1 if (seed + round_) % 2 else -1]
                index.add(IndexDoc(i, f"文件{i}", [Page(1, f"版本{seed} 并发")]) for i in order)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert (index.count(), index.doc_ids()) == (40, set(range(1, 41)))
    result = index.search(SearchQuery("并发", limit=100, snippets=False))
    assert (result.total, sorted(h.doc_id for h in result.hits)) == (40, list(range(1, 41)))
    with index.engine.connect() as conn:
        pages = conn.execute(text("SELECT count(*) FROM search_pages WHERE page > 0")).scalar()
    assert pages == 40


def test_reindexing_the_same_document_keeps_its_pages(index: PostgresBackend) -> None:
    doc = IndexDoc(1, "盖章文件", [Page(1, "关于试点的通知"), Page(2, "迅达电梯订单班验收合格")])
    for _ in range(3):
        index.add([doc])
    result = index.search(SearchQuery("订单班"))
    assert [(h.doc_id, h.pages) for h in result.hits] == [(1, [2])]


def test_table_prefixes_are_separate_indexes(postgres_url: str) -> None:
    with (
        open_index("postgres", postgres_url) as a,
        open_index("postgres", postgres_url, table_prefix="other_") as b,
    ):
        a.add([IndexDoc(1, "甲", [Page(1, "共同的词")])])
        b.add([IndexDoc(2, "乙", [Page(1, "共同的词")])])
        assert (ids(a, "共同"), ids(b, "共同")) == ([1], [2])
        b.clear()
        assert (a.count(), b.count()) == (1, 0)


def test_refuses_what_it_cannot_use(postgres_url: str, tmp_path) -> None:
    with pytest.raises(IndexerError, match="needs a PostgreSQL database, not sqlite"):
        PostgresBackend(create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}"))
    with pytest.raises(IndexerError, match="lowercase identifier"):
        PostgresBackend(url=postgres_url, table_prefix='x"; drop')
    with pytest.raises(IndexerError, match="needs engine"):
        open_index("postgres")
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE search_documents (doc_id bigint)"))
        with pytest.raises(IndexerError, match="another layout"):
            PostgresBackend(engine)
    finally:
        engine.dispose()


def test_many_matches_are_ranked_by_their_summaries(
    index: PostgresBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past EXACT_RANK matches the rank reads each row's summary (title, most frequent
    words): a title or frequent match still comes first; the count and paging are exact."""
    filler = " ".join(f"w{i:02d}" for i in range(40) for _ in range(3))
    docs = [IndexDoc(i, f"材料{i}", [Page(1, f"{filler} 报告")]) for i in range(1, 9)]
    docs.append(IndexDoc(9, "年度报告", [Page(1, "其他内容")]))
    docs.append(IndexDoc(10, "附件", [Page(1, "报告 " * 5)]))
    index.add(docs)
    exact = index.search(SearchQuery("报告", limit=100))
    monkeypatch.setattr("indexer._postgres.EXACT_RANK", 3)
    summary = index.search(SearchQuery("报告", limit=100))
    assert (exact.total, summary.total) == (10, 10)
    assert sorted(ids(index, "报告", limit=100)) == list(range(1, 11))
    # the frequent (10) and the title (9) match first, then the rest by doc_id
    order = [h.doc_id for h in summary.hits]
    assert (sorted(order[:2]), order[2:]) == ([9, 10], list(range(1, 9)))
    assert sorted(h.doc_id for h in exact.hits[:2]) == [9, 10]
    pages = [ids(index, "报告", limit=4, offset=o) for o in (0, 4, 8, 12)]
    assert pages == [order[:4], order[4:8], order[8:], []]
    # every hit still gets its pages and snippet
    assert all(h.pages == [1] for h in summary.hits if h.doc_id != 9)


def test_idf_from_the_statistics_or_counted(index: PostgresBackend) -> None:
    """Before ANALYZE every token is counted; after it, common ones come from the
    statistics: the same document frequencies either way."""
    index.add(
        IndexDoc(i, f"文件{i}", [Page(1, "共同内容" + (" 稀有词" if i == 7 else ""))])
        for i in range(1, 41)
    )
    counted = [index._idf(t) for t in ("共同", "稀有", "没有")]
    with index.engine.begin() as conn:
        conn.execute(text("ANALYZE search_documents"))
    index._stats = None
    stats = index._lexeme_stats()
    assert stats is not None and (stats[0], stats[1]["共同"]) == (40, 1.0)
    index._local.df = None
    assert [index._idf(t) for t in ("共同", "稀有", "没有")] == pytest.approx(counted)
    result = index.search(SearchQuery("共同 稀有"))
    assert [(h.doc_id, h.pages) for h in result.hits] == [(7, [1])]
