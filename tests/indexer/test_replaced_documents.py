"""A document indexed again (a retry, a worker restart) keeps its page numbers.

Engines count a replaced document's old record in the term's document frequency until the
segments merge; the page scorer must not turn that into a negative weight."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer import IndexDoc, Page, SearchQuery, open_index


@pytest.mark.parametrize("kind", ["whoosh", "tantivy"])
def test_pages_survive_reindexing_the_same_document(kind: str, tmp_path: Path) -> None:
    index = open_index(kind, tmp_path / kind)
    doc = IndexDoc(1, "盖章文件", [Page(1, "关于试点的通知"), Page(2, "迅达电梯订单班验收合格")])
    for _ in range(3):
        index.add([doc])
    result = index.search(SearchQuery("订单班"))
    assert [(h.doc_id, h.pages) for h in result.hits] == [(1, [2])]
    assert [s.page for s in result.hits[0].snippets] == [2]
    index.close()
