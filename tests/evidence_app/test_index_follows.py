"""The index follows the database after every unit of work, and heals itself when lost."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import load_module

fi = load_module(Path(__file__).with_name("test_framework_import.py"))


def _search(invoke, query: str, *options: str) -> list[int]:
    result = invoke("search", query, *options, "--json")
    assert result.exit_code == 0, result.output
    return [h["document_id"] for h in json.loads(result.output)["hits"]]


def test_reimport_moving_an_entry_reindexes_its_documents_without_reindex(
    runtime, make_framework, invoke, shared_dir: Path, tmp_path: Path
) -> None:
    """v2 of the table lists entry 2.3.4-3 under 2.3.5: the file follows the entry, and a
    search filtered by indicator finds it under 2.3.5 and no longer under 2.3.4."""
    from evidence_app.documents.ingest import ingest_files

    rows = fi.seed_rows(shared_dir)
    v1 = fi.write_csv(tmp_path / "v1.csv", [fi.HEADER, *rows], "utf-8")
    fid = make_framework(v1, name="测试体系")["framework_id"]
    path = tmp_path / "2.3.4-3 订单班协议.txt"
    path.write_text("学校与迅达电梯签订的订单班协议", encoding="utf-8")
    doc = ingest_files(runtime, [path], framework_id=fid).documents[0]
    assert (doc["entry"], doc["indicator"], doc["status"]) == ("2.3.4-3", "2.3.4", "indexed")
    assert _search(invoke, "订单班", "--indicator", "2.3.4") == [doc["id"]]
    assert _search(invoke, "订单班", "--indicator", "2.3.5") == []

    moved = "2.3.4-3 学校与各合作企业签订的订单班协议"
    v2_rows = []
    for row in rows:
        row = list(row)
        if row[3].startswith("2.3.4"):
            assert moved in row[7]
            row[7] = row[7].replace(moved, "")
        elif row[3].startswith("2.3.5"):
            row[7] = row[7] + " " + moved
        v2_rows.append(row)
    v2 = fi.write_csv(tmp_path / "v2.csv", [fi.HEADER, *v2_rows], "utf-8")
    report = make_framework(v2, name="测试体系")
    assert report["framework_id"] == fid and report["links_moved"] == 1

    assert _search(invoke, "订单班", "--indicator", "2.3.5") == [doc["id"]]
    assert _search(invoke, "订单班", "--indicator", "2.3.4") == []
    verified = invoke("verify", "--json")
    assert json.loads(verified.output)["problems"] == []


def test_unlink_relink_and_delete_are_followed_by_the_index(
    runtime, make_framework, invoke, tmp_path: Path
) -> None:
    """Operations only flush; the commit at the boundary updates the index."""
    from evidence_app.documents import operations as documents
    from evidence_app.documents.ingest import ingest_files
    from storage import Document

    fid = make_framework()["framework_id"]
    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("迅达电梯订单班学生名单", encoding="utf-8")
    doc_id = ingest_files(runtime, [path], framework_id=fid).documents[0]["id"]
    with runtime.unit_of_work() as s:
        document = s.get(Document, doc_id)
        documents.unlink(s, document, document.links[0], None)
        documents.link_by_code(s, document, "2.3.5-1", None)
    assert _search(invoke, "订单班", "--indicator", "2.3.5") == [doc_id]
    assert _search(invoke, "订单班", "--indicator", "2.3.4") == []
    with runtime.session() as s:  # a rolled-back unit changes nothing in the index
        document = s.get(Document, doc_id)
        documents.delete(s, document, None)
        s.flush()
        s.rollback()
    assert _search(invoke, "订单班") == [doc_id]
    with runtime.unit_of_work() as s:
        documents.delete(s, s.get(Document, doc_id), None)
    assert _search(invoke, "订单班") == []
    assert doc_id not in runtime.index.doc_ids()


def test_a_rolled_back_upload_leaves_no_blob(runtime, tmp_path: Path) -> None:
    from evidence_app.documents.ingest import ingest_paths

    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("只在回滚的事务里存在的文件", encoding="utf-8")
    with pytest.raises(RuntimeError), runtime.unit_of_work() as s:
        report = ingest_paths(s, runtime, [path], framework_id=None, user=None)
        assert report.accepted == 1
        raise RuntimeError("the request failed after storing the file")
    assert list(runtime.blobs.iter()) == []
    assert runtime.index.doc_ids() == set()


def _queued_app(home: Path):
    """An app whose jobs wait for a worker (as in production), on the instance in ``home``."""
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from storage import upgrade_database

    app = create_app(TestConfig(home, HUEY_IMMEDIATE=False))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    return app, runtime


def _worker_step(runtime) -> None:
    """What `evidence worker` does with every waiting job."""
    huey = runtime.huey
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def test_deleted_index_answers_503_then_is_rebuilt(tmp_path: Path) -> None:
    from evidence_app.auth.users import create_token, create_user
    from evidence_app.documents.ingest import ingest_files

    app, runtime = _queued_app(tmp_path / "i")
    runtime.huey.flush()
    with runtime.unit_of_work() as s:
        token = create_token(s, create_user(s, "reader", "correct-horse-9", "reviewer"), "t")
    headers = {"Authorization": f"Bearer {token}"}
    files = []
    for n in range(3):
        path = tmp_path / f"2.3.4-{n + 1} 材料{n}.txt"
        path.write_text(f"迅达电梯订单班第{n + 1}期学生名单", encoding="utf-8")
        files.append(path)
    ids = sorted(d["id"] for d in ingest_files(runtime, files, framework_id=None).documents)
    client = app.test_client()

    def search() -> tuple[int, dict, str | None]:
        r = client.get("/api/v1/search?q=订单班", headers=headers)
        return r.status_code, r.get_json(), r.headers.get("Retry-After")

    def search_after_rebuild() -> tuple[int, dict, str | None]:
        """The app looks at the index again every few seconds while it is rebuilt."""
        deadline = time.monotonic() + 15
        while (answer := search())[0] == 503 and time.monotonic() < deadline:
            time.sleep(0.25)
        return answer

    status, body, _ = search()
    assert status == 200 and sorted(h["document_id"] for h in body["hits"]) == ids

    shutil.rmtree(runtime.config.INDEX_DIR)  # someone deletes the index under the running app
    status, body, retry = search()
    assert (status, retry) == (503, "30")
    assert "索引正在" in body["error"]
    assert search()[0] == 503  # still rebuilding: never a silent empty answer
    _worker_step(runtime)
    status, body, _ = search_after_rebuild()
    assert status == 200 and sorted(h["document_id"] for h in body["hits"]) == ids

    # the folder is lost while the app is down: the restarted app notices before answering
    runtime.close()
    shutil.rmtree(runtime.config.INDEX_DIR)
    app2, runtime2 = _queued_app(tmp_path / "i")
    client = app2.test_client()
    status, body, retry = search()
    assert (status, retry) == (503, "30")
    _worker_step(runtime2)
    status, body, _ = search_after_rebuild()
    assert status == 200 and sorted(h["document_id"] for h in body["hits"]) == ids
    runtime2.huey.flush()
    runtime2.close()
