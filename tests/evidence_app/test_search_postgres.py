"""SEARCH_BACKEND=postgres end to end: the index lives in the app's PostgreSQL database.

Ingest, search, ``evidence reindex`` and ``evidence verify`` behave as with Whoosh; the
index tables sit next to the app's tables in the database's schema (here a private one).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from config import TestConfig, settings_for_tests

POSTGRES_URL = settings_for_tests()["postgres_url"]

# the shared database_url fixture (tests/conftest.py), PostgreSQL only: the backend needs it
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


@pytest.fixture
def app(tmp_path: Path, database_url: str):
    from evidence_app import create_app, get_runtime
    from storage import upgrade_database

    config = TestConfig(tmp_path / "instance", DATABASE_URL=database_url, SEARCH_BACKEND="postgres")
    app = create_app(config)
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    yield app
    runtime.close()


FILES = {
    "2.3.4-1 订单班学生名单.txt": "迅达电梯订单班学生名单\n序号 姓名 班级",
    "2.3.4-2 校企合作协议.txt": "甲乙双方本着产教融合、校企合作的原则签订本协议，探索现代学徒制。",
    "1.1.1-1 专业设置报告.txt": "本报告引用了佐证材料 2.3.4-1 的数据，推进现代学徒制试点。",
}


def _search(session, runtime, query: str, **kw) -> list[tuple[str, list[int]]]:
    from evidence_app.search.operations import search_documents

    result = search_documents(session, runtime, query, **kw)
    return [(h["code"], h["pages"]) for h in result["hits"]]


def test_ingest_search_reindex_verify_on_postgres(
    runtime,
    make_framework,
    invoke,
    tmp_path: Path,
) -> None:
    from evidence_app.documents.ingest import ingest_files
    from indexer._postgres import PostgresBackend

    fw = make_framework()["framework_id"]
    paths = []
    for name, body in FILES.items():
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        paths.append(path)
    report = ingest_files(runtime, paths, framework_id=fw)
    assert report.accepted == 3

    index = runtime.index
    assert isinstance(index, PostgresBackend)
    assert index.engine is runtime.engine  # the app's own database, no second pool
    tables = set(inspect(runtime.engine).get_table_names())
    assert {"search_documents", "search_pages", "documents"} <= tables

    queries = {
        "订单班": [("2.3.4-1", [1])],
        "2.3.4-1": [("2.3.4-1", [])],  # by its code, not doc 1.1.1-1 that mentions it
        '"现代学徒制试点"': [("1.1.1-1", [1])],
        "现代学徒制": [("1.1.1-1", [1]), ("2.3.4-2", [1])],
    }
    with runtime.session() as s:
        before = {q: _search(s, runtime, q) for q in queries}
        assert _search(s, runtime, "学徒制", indicator="2.3") == [("2.3.4-2", [1])]
        assert _search(s, runtime, "学徒制", indicator="2.2") == []
    assert {q: sorted(hits) for q, hits in before.items()} == {
        q: sorted(hits) for q, hits in queries.items()
    }

    result = invoke("reindex")
    assert result.exit_code == 0, result.output
    assert "3 个文件" in result.output
    with runtime.session() as s:
        assert {q: _search(s, runtime, q) for q in queries} == before

    verified = invoke("verify", "--json")
    assert verified.exit_code == 0, verified.output
    report_json = json.loads(verified.output)
    assert (report_json["ok"], report_json["documents_indexed"]) == (True, 3)

    # drift is seen as with Whoosh: a document missing from the index fails verify
    with runtime.session() as s:
        doc_id = s.execute(text("SELECT id FROM documents WHERE code = '2.3.4-1'")).scalar_one()
    index.delete([doc_id])
    verified = invoke("verify", "--json")
    assert verified.exit_code == 1
    assert json.loads(verified.output)["problems"] == [{"kind": "not_indexed", "document": doc_id}]
    assert invoke("reindex").exit_code == 0
    assert invoke("verify", "--json").exit_code == 0


def test_search_command_on_postgres(runtime, invoke, tmp_path: Path) -> None:
    """The CLI's search (no framework): a phrase across a line wrap, snippets escaped."""
    path = tmp_path / "通知.txt"
    path.write_text("关于深化产教\n融合的通知 <b>粗体</b>", encoding="utf-8")
    result = invoke("ingest", str(path), "--json")
    assert result.exit_code == 0, result.output
    result = invoke("search", "产教融合", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert [(h["title"], h["pages"]) for h in hits] == [("通知", [1])]
    assert hits[0]["snippets"][0]["html"] == (
        "关于深化<mark>产教融合</mark>的通知 &lt;b&gt;粗体&lt;/b&gt;"
    )
