"""Search quality regression: the fixed slice of bench/quality.py's query set (``--quick``).

About 140 documents (the rows of the seed self-assessment table and the sections of the seed
mid-term report) and 30 queries of every kind (single words, multi-word, quoted phrases,
known items, mixed Chinese/Latin/digits), built by the bench's own code with its ground
truth from the text. On both embedded backends every query must find all its relevant
documents in the top 20 (recall@20 = 1.0) and known items must come first (MRR >= 0.95),
so a tokenizer or ranking change that loses documents fails here.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from tests.conftest import load_module

ROOT = Path(__file__).resolve().parents[2]


quality = load_module(ROOT / "bench" / "quality.py", "bench_quality")


@pytest.fixture(scope="module")
def bench_slice(shared_dir: Path):
    docs, terms, queries = quality.prepare(shared_dir, quick=True)
    return docs, terms, queries


@pytest.fixture(scope="module", params=["whoosh", "tantivy"])
def answers(request, bench_slice, tmp_path_factory):
    """Our search's top 20 for every query of the slice, on one backend."""
    docs, terms, queries = bench_slice
    run = quality.run_ours(
        request.param, docs, terms, queries, tmp_path_factory.mktemp(request.param)
    )
    return docs, queries, run


def _describe(docs, q, ids: list[int]) -> str:
    titles = {d.doc_id: d.title for d in docs}
    missed = ", ".join(f"#{i} {titles[i]}" for i in quality.misses(q, ids)[:5])
    rank = ids.index(q.target) + 1 if q.target in ids else None
    known = f", known item rank {rank}" if q.target is not None else ""
    return (
        f"[{q.kind}] {q.text}: recall@20 {quality.recall_at(q, ids):.2f} of "
        f"{len(q.relevant)} relevant{known}; missed {missed or '-'}"
    )


def test_slice_has_every_kind(bench_slice):
    docs, _, queries = bench_slice
    kinds = {k: sum(q.kind == k for q in queries) for k in quality.KINDS}
    assert kinds == quality.QUICK_COUNTS
    assert 100 <= len(docs) <= 200
    assert all(q.relevant for q in queries)
    assert all(list(q.relevant) == [q.target] for q in queries if q.kind == "known")


def test_recall_at_20(answers):
    docs, queries, run = answers
    failed = [
        _describe(docs, q, ids)
        for q, ids in zip(queries, run.ranked, strict=True)
        if quality.recall_at(q, ids) < 1.0
    ]
    assert not failed, f"{run.system} misses relevant documents:\n" + "\n".join(failed)


def test_known_item_mrr(answers):
    docs, queries, run = answers
    known = [(q, ids) for q, ids in zip(queries, run.ranked, strict=True) if q.kind == "known"]
    assert known
    mrr = statistics.mean(quality.reciprocal_rank(q, ids) for q, ids in known)
    not_first = [_describe(docs, q, ids) for q, ids in known if ids[:1] != [q.target]]
    assert mrr >= 0.95, f"{run.system} known-item MRR {mrr:.3f}:\n" + "\n".join(not_first)


@pytest.mark.parametrize("text", ["长隆", "2022年"])
def test_names_cut_apart_and_numbers_with_units(answers, text):
    """Queries the search once missed: 长隆 in 首家长隆 (jieba: 首/家长/隆) and 2022年 where a
    framework term took the 年 (2022/年专业设置); the character bigrams find both."""
    docs, queries, run = answers
    i = next(i for i, q in enumerate(queries) if q.text == text)
    assert quality.recall_at(queries[i], run.ranked[i]) == 1.0, _describe(
        docs, queries[i], run.ranked[i]
    )
