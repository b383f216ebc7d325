"""The search suite: every test runs on every backend (the ``backend`` fixture)."""

from __future__ import annotations

import importlib.util
import multiprocessing
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from indexer import (
    IndexDoc,
    IndexerError,
    IndexLayoutError,
    IndexLockedError,
    Page,
    SearchBackend,
    SearchQuery,
    SearchResult,
    add_user_words,
    open_index,
    parse_query,
)
from indexer._query import QueryTerm
from tests.indexer.conftest import sample_docs


def search(backend: SearchBackend, text: str, **kw: object) -> SearchResult:
    return backend.search(SearchQuery(text, **kw))  # type: ignore[arg-type]


def ids(result: SearchResult) -> list[int]:
    return [h.doc_id for h in result.hits]


def snippets(result: SearchResult) -> list[tuple[int, int, str]]:
    return [(h.doc_id, s.page, s.html) for h in result.hits for s in h.snippets]


# -- finding words --------------------------------------------------------------------


def test_word_inside_a_longer_run(filled: SearchBackend) -> None:
    result = search(filled, "订单班")
    assert (result.total, ids(result), result.fallback) == (1, [1], False)
    assert result.hits[0].pages == [1]
    assert snippets(result) == [(1, 1, "迅达电梯<mark>订单班</mark>学生名单序号 姓名 班级")]


def test_part_of_a_word_is_found(filled: SearchBackend) -> None:
    """名单 is indexed inside 学生名单; the title match (doc 5) ranks first."""
    result = search(filled, "名单")
    assert ids(result) == [5, 1]
    assert [h.pages for h in result.hits] == [[2], [1]]
    assert snippets(result) == [
        (5, 2, "教师<mark>名单</mark>：张三、李四"),
        (1, 1, "迅达电梯订单班学生<mark>名单</mark>序号 姓名 班级"),
    ]


def test_line_wrap_inside_a_word(filled: SearchBackend) -> None:
    """产教\\n融合 on page 3 of doc 1 is the word 产教融合; the snippet drops the wrap."""
    result = search(filled, "产教融合")
    assert ids(result) == [1, 2]
    assert [h.pages for h in result.hits] == [[3], [1]]
    assert snippets(result)[0] == (1, 3, "深化<mark>产教融合</mark>，推进现代学徒制试点。")


def test_full_width_latin_is_found_and_marked_in_the_original(filled: SearchBackend) -> None:
    result = search(filled, "abc123")
    assert ids(result) == [4]
    assert snippets(result) == [
        (4, 1, "设备型号<mark>ＡＢＣ１２３</mark>已采购。1+X证书试点。BIM技术应用。")
    ]
    assert ids(search(filled, "ＡＢＣ１２３")) == [4]


def test_latin_and_mixed_words(filled: SearchBackend) -> None:
    assert snippets(search(filled, "1+X")) == [
        (4, 1, "设备型号ＡＢＣ１２３已采购。<mark>1+X</mark>证书试点。BIM技术应用。")
    ]
    assert ids(search(filled, "bim 技术")) == [4]
    assert ids(search(filled, "BIM技术")) == [4]


def test_words_of_one_chunk_are_marked_together(filled: SearchBackend) -> None:
    """2035年 is two tokens; the snippet marks the pair, not every 年."""
    result = search(filled, "2035年")
    assert result.terms == ["2035年"]
    assert snippets(result) == [
        (
            3,
            2,
            "国民经济和社会发展第十四个五年规划和<mark>2035年</mark>远景目标纲要（粤府〔2021〕28号）",
        )
    ]


# -- phrases --------------------------------------------------------------------------


def test_quoted_phrase_matches_only_where_contiguous(filled: SearchBackend) -> None:
    assert ids(search(filled, "现代学徒制 试点")) == [1, 2]
    result = search(filled, '"现代学徒制试点"')
    assert ids(result) == [1]
    assert snippets(result) == [(1, 3, "深化产教融合，推进<mark>现代学徒制试点</mark>。")]


@pytest.mark.parametrize(
    ("phrase", "marked"),
    [
        ('"深化产教融合"', "<mark>深化产教融合</mark>，推进现代学徒制试点。"),  # whole word
        ('"深化产教"', "<mark>深化产教</mark>融合，推进现代学徒制试点。"),  # first part
        ('"融合，推进"', "深化产教<mark>融合，推进</mark>现代学徒制试点。"),  # last part
    ],
)
def test_phrase_with_a_word_or_its_parts(filled: SearchBackend, phrase: str, marked: str) -> None:
    """产教融合 is indexed with its parts at the same position: phrases work both ways."""
    result = search(filled, phrase)
    assert snippets(result) == [(1, 3, marked)]


def test_phrase_does_not_span_two_pages(backend: SearchBackend) -> None:
    backend.add([IndexDoc(9, "分页", [Page(1, "第一页结尾是产教"), Page(2, "融合开头的第二页")])])
    assert ids(search(backend, "产教 融合")) == [9]
    assert ids(search(backend, '"产教 融合"')) == []
    assert ids(search(backend, "产教融合")) == []  # nor do the character bigrams


# -- character bigrams: the query as written, whatever jieba made of the text ---------------


def test_name_cut_apart_by_jieba_is_found(backend: SearchBackend) -> None:
    """jieba cuts 首家长隆 as 首/家长/隆: the word 长隆 is not a token of the text."""
    backend.add(
        [
            IndexDoc(1, "合作", [Page(1, "全国首家长隆产业学院揭牌。")]),
            IndexDoc(2, "其他", [Page(1, "家长会与隆重的典礼。")]),
        ]
    )
    result = search(backend, "长隆")
    assert ids(result) == [1]
    assert snippets(result) == [(1, 1, "全国首家<mark>长隆</mark>产业学院揭牌。")]
    assert ids(search(backend, "长隆 产业学院")) == [1]


@pytest.mark.parametrize("query", ['"定期安全评"', "定期安全评", '"机制改革"', "安全评价工"])
def test_phrase_starting_or_ending_inside_a_word(backend: SearchBackend, query: str) -> None:
    backend.add(
        [
            IndexDoc(1, "安全", [Page(1, "开展定期安全评价工作，深化体制机制改革。")]),
            IndexDoc(2, "其他", [Page(1, "定期检查，安全第一；机制健全，改革深入。")]),
        ]
    )
    assert ids(search(backend, query)) == [1]


def test_bigrams_do_not_join_across_punctuation(backend: SearchBackend) -> None:
    backend.add([IndexDoc(1, "标点", [Page(1, "坚持产教，融合发展。")])])
    assert ids(search(backend, "产教融合")) == []
    assert ids(search(backend, "产教 融合")) == [1]


# -- codes ----------------------------------------------------------------------------


def test_evidence_code_returns_exactly_that_document(filled: SearchBackend) -> None:
    """Doc 3 mentions 2.3.4-1 in its text, doc 2 is 2.3.4-2: neither comes back."""
    result = search(filled, "2.3.4-1")
    assert (result.total, ids(result)) == (1, [1])
    assert result.hits[0].pages == []  # matched by its code: no page mentions it
    assert snippets(result) == [(1, 1, "迅达电梯订单班学生名单序号 姓名 班级")]
    assert ids(search(filled, "2.3.6-7-2")) == [5]


def test_quoted_code_is_searched_in_the_text(filled: SearchBackend) -> None:
    result = search(filled, '"2.3.4-1"')
    assert ids(result) == [1, 3]  # doc 1 by its title, doc 3 by page 1
    assert snippets(result)[1] == (
        3,
        1,
        "本报告引用了佐证材料 <mark>2.3.4-1</mark> 和指标 2.3 的数据。",
    )


def test_codes_are_not_cut(filled: SearchBackend) -> None:
    """An indicator code matches the indicator subtree, never a text mentioning 2.3.4-1."""
    assert sorted(ids(search(filled, "2.3"))) == [1, 2, 5]
    result = search(filled, '"2.3"')  # in the text: only doc 3 has the token 2.3 itself
    assert ids(result) == [3]
    assert snippets(result) == [
        (3, 1, "本报告引用了佐证材料 2.3.4-1 和指标 <mark>2.3</mark> 的数据。")
    ]


def test_code_and_word(filled: SearchBackend) -> None:
    result = search(filled, "2.3.4-1 名单")
    assert (ids(result), result.fallback) == ([1], False)
    assert result.hits[0].pages == [1]


def test_code_ranks_its_document_first(backend: SearchBackend) -> None:
    backend.add(
        [
            IndexDoc(1, "协议一", [Page(1, "协议")], code="2.3.4-3", indicator_codes=["2.3.4"]),
            IndexDoc(2, "协议二", [Page(1, "协议")], entry_codes=["2.3.4-1"]),
            IndexDoc(3, "协议三", [Page(1, "协议")], code="2.3.4-1", entry_codes=["2.3.4-1"]),
        ]
    )
    result = search(backend, "2.3.4-1 协议")
    assert ids(result) == [3, 2]


# -- pages and snippets ---------------------------------------------------------------


def test_pages_best_first_then_by_number(filled: SearchBackend) -> None:
    assert [h.pages for h in search(filled, "教师").hits] == [[1, 2]]  # a tie: by number
    backend = filled
    backend.add(
        [IndexDoc(7, "年报", [Page(1, "教学"), Page(2, "教学 质量"), Page(3, "质量 教学 教学")])]
    )
    result = search(backend, "教学 质量")
    assert (ids(result), result.hits[0].pages) == ([7], [3, 2, 1])


def test_snippet_is_escaped(filled: SearchBackend) -> None:
    result = search(filled, "script")
    assert snippets(result) == [
        (
            2,
            2,
            "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; 协议附件：设备清单。",
        )
    ]
    result = search(filled, "协议")
    assert snippets(result) == [
        (
            2,
            1,
            "甲乙双方本着产教融合、校企合作的原则签订本<mark>协议</mark>，开展试点工作，探索现代学徒制。",
        ),
        (2, 2, "&lt;script&gt;alert(1)&lt;/script&gt; <mark>协议</mark>附件：设备清单。"),
    ]


def test_long_page_snippet_is_a_window_around_the_match(backend: SearchBackend) -> None:
    text = "前言" * 200 + "关键的订单班名单在这里" + "结尾" * 200
    backend.add([IndexDoc(1, "长文", [Page(1, text)])])
    (snippet,) = search(backend, "订单班").hits[0].snippets
    # 24 characters before the match, 140 in all
    before, after = "言" + "前言" * 10 + "关键的", "名单在这里" + "结尾" * 54
    assert snippet.html == f"…{before}<mark>订单班</mark>{after}…"


def test_no_snippets_when_not_asked(filled: SearchBackend) -> None:
    result = search(filled, "协议", snippets=False)
    assert [(h.doc_id, h.pages, h.snippets) for h in result.hits] == [(2, [1, 2], [])]


# -- filters --------------------------------------------------------------------------


def _filter_docs() -> list[IndexDoc]:
    def doc(doc_id: int, framework: int, indicator: str, file_type: str, status: str) -> IndexDoc:
        levels = indicator.split(".")
        return IndexDoc(
            doc_id,
            f"{indicator}-{doc_id} 佐证材料",
            [Page(1, "佐证材料目录")],
            code=f"{indicator}-{doc_id}",
            entry_codes=[f"{indicator}-{doc_id}"],
            indicator_codes=[".".join(levels[: i + 1]) for i in range(len(levels))],
            framework_id=framework,
            file_type=file_type,
            status=status,
        )

    return [
        doc(1, 1, "2.3.4", "pdf", "indexed"),
        doc(2, 1, "2.3.6", "docx", "reviewed"),
        doc(3, 1, "2.1.1", "pdf", "reviewed"),
        doc(4, 2, "2.3.4", "xlsx", "indexed"),
        doc(5, 2, "1.1.1", "pdf", "indexed"),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, [1, 2, 3, 4, 5]),
        ({"framework_id": 2}, [4, 5]),
        ({"indicator": "2.3.4"}, [1, 4]),
        ({"indicator": "2.3"}, [1, 2, 4]),
        ({"indicator": "2"}, [1, 2, 3, 4]),
        ({"indicator": "2.3.4-1"}, []),
        ({"file_type": "pdf"}, [1, 3, 5]),
        ({"status": "reviewed"}, [2, 3]),
        ({"doc_ids": {1, 5, 9}}, [1, 5]),
        ({"doc_ids": set()}, []),
        ({"framework_id": 1, "file_type": "pdf", "indicator": "2.3"}, [1]),
        ({"framework_id": 1, "status": "reviewed", "doc_ids": {2, 4}}, [2]),
    ],
)
def test_filters(backend: SearchBackend, filters: dict[str, object], expected: list[int]) -> None:
    backend.add(_filter_docs())
    result = search(backend, "佐证材料", **filters)
    assert (sorted(ids(result)), result.total) == (expected, len(expected))


def test_filters_apply_before_pagination(backend: SearchBackend) -> None:
    backend.add(
        IndexDoc(i, f"报告{i}", [Page(1, "质量报告")], framework_id=1 + i % 2) for i in range(1, 31)
    )
    result = search(backend, "质量报告", framework_id=1, limit=5)
    assert result.total == 15
    assert len(result.hits) == 5
    assert all(h.doc_id % 2 == 0 for h in result.hits)


# -- writing --------------------------------------------------------------------------


def test_add_replaces_the_document(filled: SearchBackend) -> None:
    filled.add([IndexDoc(1, "新版本", [Page(1, "更新后的内容：实训基地")], code="2.3.4-1")])
    assert ids(search(filled, "订单班")) == []
    result = search(filled, "实训基地")
    assert (ids(result), result.hits[0].pages) == ([1], [1])
    assert filled.count() == 5
    assert filled.doc_ids() == {1, 2, 3, 4, 5}


def test_same_document_twice_in_one_batch_keeps_the_last(backend: SearchBackend) -> None:
    backend.add([IndexDoc(1, "旧", [Page(1, "订单班")]), IndexDoc(1, "新", [Page(1, "实训基地")])])
    assert (backend.count(), ids(search(backend, "订单班")), ids(search(backend, "实训基地"))) == (
        1,
        [],
        [1],
    )


def test_delete_and_clear(filled: SearchBackend) -> None:
    filled.delete([2, 99])
    assert ids(search(filled, "协议")) == []
    assert (filled.count(), filled.doc_ids()) == (4, {1, 3, 4, 5})
    filled.clear()
    assert (filled.count(), filled.doc_ids(), ids(search(filled, "名单"))) == (0, set(), [])


def test_document_without_text_is_found_by_title_and_code(backend: SearchBackend) -> None:
    backend.add([IndexDoc(3, "盖章扫描件 任务书", [Page(1, "  "), Page(2, "")], code="5-1")])
    result = search(backend, "任务书")
    assert [(h.doc_id, h.pages, h.snippets) for h in result.hits] == [(3, [], [])]
    assert ids(search(backend, "5-1")) == []  # not a code: no dot
    assert ids(search(backend, "扫描件")) == [3]


def test_reopen_gives_the_same_results(
    filled: SearchBackend, open_backend: Callable[[], SearchBackend]
) -> None:
    queries = ["名单", "产教融合", "2.3", '"现代学徒制试点"', "订单班 协议"]
    before = [search(filled, q) for q in queries]
    filled.close()
    again = open_backend()
    after = [search(again, q) for q in queries]
    assert [(r.total, r.hits, r.fallback) for r in after] == [
        (r.total, r.hits, r.fallback) for r in before
    ]
    assert again.count() == 5


# -- query semantics ------------------------------------------------------------------


def test_and_then_or_fallback(filled: SearchBackend) -> None:
    result = search(filled, "订单班 协议")  # no document has both
    assert (result.total, ids(result), result.fallback) == (2, [2, 1], True)
    result = search(filled, "订单班 不存在的词汇")
    assert (ids(result), result.fallback) == ([1], True)
    result = search(filled, "完全 不存在的 词汇")
    assert (result.total, ids(result), result.fallback) == (0, [], False)


def test_empty_query(filled: SearchBackend) -> None:
    for text in ["", "   ", "，。"]:
        assert (search(filled, text).total, search(filled, text).hits) == (0, [])


def test_pagination(backend: SearchBackend) -> None:
    backend.add(
        IndexDoc(i, f"材料{i}", [Page(1, "评估" * (i % 7 + 1) + "报告")]) for i in range(1, 26)
    )
    everything = search(backend, "评估", limit=100)
    assert everything.total == 25
    order = ids(everything)
    assert sorted(order) == list(range(1, 26))
    pages = [search(backend, "评估", limit=10, offset=o) for o in (0, 10, 20, 30)]
    assert [p.total for p in pages] == [25, 25, 25, 25]
    assert [ids(p) for p in pages] == [order[:10], order[10:20], order[20:], []]


def test_total_counts_every_matching_document(backend: SearchBackend) -> None:
    """Not only those the engine scored on its way to the top 5 (Whoosh prunes)."""
    rng = random.Random(1)
    docs = []
    for i in range(1, 301):
        words = ["学院"] * rng.randint(1, 5) + ["发展"] * rng.randint(0, 5) + ["其他"] * 40
        rng.shuffle(words)
        docs.append(IndexDoc(i, "学院简介" if i % 7 == 0 else "材料", [Page(1, "，".join(words))]))
    backend.add(docs)
    with_both = sum(1 for d in docs if "发展" in d.pages[0].text)
    assert search(backend, "学院", limit=5).total == 300
    assert search(backend, "学院 发展", limit=5).total == with_both


def test_parse_query() -> None:
    parsed = parse_query('订单班 学生的名单 "现代学徒制试点" 2.3.4-1 技能大赛')
    assert parsed.terms == [
        QueryTerm("订单班"),
        QueryTerm("学生"),
        QueryTerm("名单"),
        QueryTerm("技能大赛"),
    ]
    assert parsed.phrases == [("现代学徒制", "试点")]
    assert parsed.codes == ["2.3.4-1"]
    assert parsed.nearby == [("学生", "的", "名单")]
    assert parsed.highlight_terms() == [
        "现代学徒制试点",
        "学生的名单",
        "订单班",
        "技能大赛",
        "2.3.4-1",
    ]
    assert parse_query("的").terms == [QueryTerm("的")]  # a stop word alone stays


#: Words not in the dictionary, one per run of the drift test (the dictionary is global).
_NEW_WORDS = ["海豚湾", "银杏林", "松鼠谷", "云杉岭", "蓝莓坡"]


def test_word_added_after_indexing_is_found(backend: SearchBackend) -> None:
    """Text indexed before add_user_words has the word's parts: the query tries them too."""
    word = _NEW_WORDS.pop(0)
    backend.add([IndexDoc(1, "参观记录", [Page(1, f"参观{word}剧场，{word[:2]}很多")])])
    assert add_user_words([word]) == 1
    assert parse_query(word).terms == [QueryTerm(word, (word[:2], word[2]))]
    result = search(backend, word)
    assert snippets(result) == [(1, 1, f"参观<mark>{word}</mark>剧场，{word[:2]}很多")]
    backend.add([IndexDoc(2, "参观记录", [Page(1, f"{word}剧场")])])  # indexed with the word
    assert sorted(ids(search(backend, word))) == [1, 2]


# -- concurrency ----------------------------------------------------------------------


def _workers():  # the helper module next to this file
    spec = importlib.util.spec_from_file_location(
        "_workers", Path(__file__).with_name("_workers.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_two_processes_write_at_once(backend_kind: str, index_location: str) -> None:
    path = index_location
    open_index(backend_kind, path).close()
    barrier = multiprocessing.get_context("spawn").Barrier(2)
    workers = [
        _workers().start_worker("write_docs", backend_kind, path, first, 8, barrier)
        for first in (1, 101)
    ]
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    with open_index(backend_kind, path) as index:
        expected = set(range(1, 9)) | set(range(101, 109))
        assert (index.count(), index.doc_ids()) == (16, expected)
        result = index.search(SearchQuery("并发写入测试", limit=50, snippets=False))
        assert set(ids(result)) == expected


def test_writer_lock_timeout(backend_kind: str, index_location: str) -> None:
    if backend_kind == "postgres":
        # several app servers write at once: there is no index-wide writer lock to hold,
        # writers wait only for the rows they both write (see tests/indexer/test_postgres.py)
        pytest.skip("PostgreSQL has no index-wide writer lock")
    path = index_location
    open_index(backend_kind, path).close()
    ready = multiprocessing.get_context("spawn").Event()
    holder = _workers().start_worker("hold_writer", backend_kind, path, 1.5, ready)
    try:
        assert ready.wait(60)
        with open_index(backend_kind, path, lock_timeout=0.3) as index:
            started = time.monotonic()
            with pytest.raises(IndexLockedError):
                index.add([IndexDoc(1, "被锁", [Page(1, "内容")])])
            assert 0.3 <= time.monotonic() - started < 1.5
        holder.join(30)
        assert holder.exitcode == 0
        with open_index(backend_kind, path, lock_timeout=10) as index:
            index.add([IndexDoc(1, "解锁后", [Page(1, "内容")])])  # nothing was left behind
            assert ids(index.search(SearchQuery("解锁后"))) == [1]
    finally:
        holder.join(30)


def test_a_failed_whoosh_commit_leaves_the_index_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoosh keeps its writer lock when a commit fails (a full disk, a broken segment):
    every later write of the process waited out the lock timeout and failed."""
    from whoosh.writing import SegmentWriter

    def full_disk(self: SegmentWriter, *args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    with open_index("whoosh", tmp_path / "ix", lock_timeout=0.5) as index:
        with monkeypatch.context() as patched:
            patched.setattr(SegmentWriter, "commit", full_disk)
            with pytest.raises(OSError):
                index.add([IndexDoc(1, "写入失败", [Page(1, "内容")])])
        index.add([IndexDoc(2, "写入成功", [Page(1, "内容")])])
        assert index.doc_ids() == {2}


def test_open_index_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(IndexerError, match="unknown search backend 'elastic'"):
        open_index("elastic", tmp_path)
    with pytest.raises(IndexerError, match="needs an index directory"):
        open_index("tantivy")


# -- layout changes ---------------------------------------------------------------------------


def _make_old_layout(backend_kind: str, location: str) -> None:
    """An index as an older version left it: other fields, one document."""
    if backend_kind == "whoosh":
        from whoosh import fields, index

        ix = index.create_in(location, fields.Schema(doc_id=fields.ID(stored=True)))
        with ix.writer() as w:
            w.add_document(doc_id="1")
        ix.close()
    elif backend_kind == "tantivy":
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_unsigned_field("doc_id", stored=True, indexed=True, fast=True)
        ix = tantivy.Index(sb.build(), path=location)
        w = ix.writer(heap_size=15_000_000, num_threads=1)
        doc = tantivy.Document()
        doc.add_unsigned("doc_id", 1)
        w.add_document(doc)
        w.commit()
        w.wait_merging_threads()
    else:
        from sqlalchemy import create_engine, text

        engine = create_engine(location)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE search_documents (doc_id bigint PRIMARY KEY)"))
            conn.execute(text("COMMENT ON TABLE search_documents IS 'layout 1'"))
        engine.dispose()


def test_index_of_another_layout_is_refused_then_recreated(
    backend_kind: str, index_location: str
) -> None:
    if backend_kind != "postgres":
        Path(index_location).mkdir(parents=True)
    _make_old_layout(backend_kind, index_location)
    with pytest.raises(IndexLayoutError):
        open_index(backend_kind, index_location)
    with open_index(backend_kind, index_location, recreate=True) as index:
        assert index.count() == 0
        index.add(sample_docs())
        assert ids(search(index, "迅达电梯")) == [1]
    with open_index(backend_kind, index_location) as index:  # now the current layout
        assert index.count() == len(sample_docs())
