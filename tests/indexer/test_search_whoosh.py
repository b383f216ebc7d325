"""The Whoosh backend's query engine (indexer/_whoosh_engine.py) against Whoosh's own search.

The engine evaluates the backend's Whoosh query trees on whole arrays; it must give what
Whoosh gives when Whoosh scores every document (``optimize=False``, no pruning): the same
count, the same top documents with the same scores, on several segments, with deleted
documents, filters, phrases, identifiers and the OR fallback.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import indexer._whoosh as whoosh_backend
from indexer import IndexDoc, Page, SearchQuery
from indexer._whoosh import WhooshBackend, _filter
from indexer._whoosh_engine import Engine, PostingCache, Unsupported

WORDS = [
    "学院", "学生", "教师", "专业", "建设", "发展", "产教融合", "校企合作", "订单班",
    "实训基地", "现代学徒制", "试点", "工作", "2021", "2022年", "粤府〔2021〕28号",
    "758号", "GB/T 7714-2015", "双师型", "人才培养", "方案", "质量", "报告",
]  # fmt: skip
QUERIES = [
    "学院",
    "学生 发展",
    "产教融合 校企合作 试点",
    "订单班",
    "2022年",
    "粤府〔2021〕28号",
    "[2021]28号",
    "758号 学院",
    "GB/T 7714-2015",
    '"现代学徒制试点"',
    '"人才培养方案"',
    "双师型教师",
    "学院 不存在的词汇",  # the OR fallback
    "人才培养 2.3.4-1",
    "质量报告",
]


def _docs(rng: random.Random, first: int, n: int) -> list[IndexDoc]:
    docs = []
    for doc_id in range(first, first + n):
        pages = []
        for number in range(1, rng.randint(1, 4) + 1):
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 60))]
            pages.append(Page(number, "，".join(words) if rng.random() < 0.5 else "".join(words)))
        title = "".join(rng.sample(WORDS, 2))
        docs.append(
            IndexDoc(
                doc_id,
                title,
                pages,
                code=f"2.3.4-{doc_id % 5}",
                entry_codes=[f"2.3.4-{doc_id % 5}"],
                indicator_codes=["2", "2.3", "2.3.4"] if doc_id % 2 else ["1", "1.1"],
                framework_id=1 + doc_id % 2,
                file_type=rng.choice(["pdf", "docx"]),
                status=rng.choice(["indexed", "reviewed"]),
            )
        )
    return docs


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> WhooshBackend:
    """Three segments (three batches), some documents deleted and some replaced."""
    rng = random.Random(5)
    backend = WhooshBackend(tmp_path_factory.mktemp("engine") / "ix")
    for first in (1, 121, 241):
        backend.add(_docs(rng, first, 120))
    backend.delete(range(5, 360, 17))
    backend.add(_docs(rng, 30, 6))  # replaced: deleted in their segment, added in a new one
    return backend


def _whoosh_top(backend: WhooshBackend, query: SearchQuery, k: int) -> tuple[int, list]:
    """What Whoosh's own search gives for the query tree the backend builds."""
    captured = {}
    original = whoosh_backend.Engine.top

    def capture(self: Engine, q: object, allow: object, limit: int) -> object:
        captured["q"] = q
        return original(self, q, allow, limit)  # type: ignore[arg-type]

    whoosh_backend.Engine.top = capture  # type: ignore[method-assign]
    try:
        backend.search(query)
    finally:
        whoosh_backend.Engine.top = original  # type: ignore[method-assign]
    if "q" not in captured:
        return 0, []
    searcher = backend._searcher()
    results = searcher.search(captured["q"], limit=None, optimize=False, filter=_filter(query))
    ordered = sorted(results.top_n, key=lambda item: (-item[0], item[1]))[:k]
    return len(results), [(round(s, 6), d) for s, d in ordered]


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"framework_id": 1},
        {"indicator": "2.3", "file_type": "pdf"},
        {"doc_ids": {1, 7, 30, 200, 301}},
    ],
    ids=["all", "framework", "indicator+type", "ids"],
)
def test_engine_gives_what_whoosh_gives(
    index: WhooshBackend, text: str, filters: dict[str, object]
) -> None:
    query = SearchQuery(text, limit=15, snippets=False, **filters)  # type: ignore[arg-type]
    result = index.search(query)
    total, expected = _whoosh_top(index, query, 15)
    assert result.total == total
    ids = index._ids(index._searcher())
    assert [(round(h.score, 6), h.doc_id) for h in result.hits] == [
        (score, int(ids[docnum])) for score, docnum in expected
    ]


def test_pagination_is_the_same_order(index: WhooshBackend) -> None:
    everything = [h.doc_id for h in index.search(SearchQuery("学院", limit=200)).hits]
    pages = [
        [h.doc_id for h in index.search(SearchQuery("学院", limit=25, offset=o)).hits]
        for o in range(0, 200, 25)
    ]
    assert [d for page in pages for d in page] == everything


def test_new_and_deleted_documents_are_seen(tmp_path: Path) -> None:
    """The posting cache is per segment: a commit adds a segment, deletions apply at once."""
    backend = WhooshBackend(tmp_path / "ix")
    backend.add([IndexDoc(1, "甲", [Page(1, "订单班学生名单")])])
    assert [h.doc_id for h in backend.search(SearchQuery("订单班")).hits] == [1]
    backend.add([IndexDoc(2, "乙", [Page(1, "订单班协议")])])
    assert sorted(h.doc_id for h in backend.search(SearchQuery("订单班")).hits) == [1, 2]
    backend.delete([1])
    result = backend.search(SearchQuery("订单班"))
    assert (result.total, [h.doc_id for h in result.hits]) == (1, [2])
    backend.clear()
    assert backend.search(SearchQuery("订单班")).total == 0
    backend.close()


def test_unknown_query_nodes_are_left_to_whoosh(index: WhooshBackend) -> None:
    from whoosh import query as wq

    engine = Engine(index._searcher(), PostingCache(), {})
    with pytest.raises(Unsupported):
        engine.top(wq.Prefix("body", "学"), None, 10)


def test_empty_index(tmp_path: Path) -> None:
    with WhooshBackend(tmp_path / "ix") as backend:
        assert backend.search(SearchQuery("学院")).total == 0
