"""The job queue: huey on SQLite by default, on Redis when REDIS_URL is set."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import settings_for_tests

REDIS_URL = settings_for_tests()["redis_url"]


def _queue_runtime(tmp_path: Path, **overrides):
    """A runtime whose jobs wait in a real queue (not run right away), emptied first."""
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from storage import upgrade_database

    app = create_app(TestConfig(tmp_path / "i", HUEY_IMMEDIATE=False, **overrides))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    runtime.huey.flush()
    return runtime


def _queued_document(runtime, tmp_path: Path) -> int:
    from evidence_app.documents.ingest import ingest_paths

    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("迅达电梯订单班 名单", encoding="utf-8")
    with runtime.unit_of_work() as s:  # the commit puts the document on the queue
        report = ingest_paths(s, runtime, [path], framework_id=None, user=None)
    return report.new_ids[0]


@pytest.mark.parametrize("queue", ["sqlite", "redis"])
def test_web_request_only_enqueues_and_a_worker_processes(tmp_path: Path, queue: str) -> None:
    from storage import Document

    overrides = {}
    if queue == "redis":
        if not REDIS_URL:
            pytest.skip("Redis not configured (set EVIDENCE_TEST_REDIS_URL)")
        overrides["REDIS_URL"] = REDIS_URL
    runtime = _queue_runtime(tmp_path, **overrides)
    huey = runtime.huey
    doc_id = _queued_document(runtime, tmp_path)
    with runtime.session() as s:
        assert s.get(Document, doc_id).status == "pending"  # nothing processed in the request
    assert type(huey).__name__ == ("RedisHuey" if queue == "redis" else "SqliteHuey")
    assert huey.pending_count() == 1
    task = huey.dequeue()  # what `evidence worker` does, one step
    huey.execute(task)
    with runtime.session() as s:
        assert s.get(Document, doc_id).status == "indexed"
    assert runtime.index.doc_ids() == {doc_id}
    assert huey.pending_count() == 0
    huey.flush()
    runtime.close()


def test_a_document_queued_twice_is_processed_once(tmp_path: Path) -> None:
    """An upload's job plus a starting worker's recovery of pending documents queue the same
    document twice; the second job leaves the finished document alone (it used to take it
    back to processing, where a worker stopped at that moment left it)."""
    from evidence_app.tasks import recover_stale
    from storage import Document

    runtime = _queue_runtime(tmp_path)
    huey = runtime.huey
    doc_id = _queued_document(runtime, tmp_path)
    assert recover_stale(runtime) == [doc_id]  # still pending: queued again
    assert huey.pending_count() == 2
    huey.execute(huey.dequeue())
    with runtime.session() as s:
        finished = s.get(Document, doc_id)
        assert finished.status == "indexed"
        stamp = finished.updated_at
    huey.execute(huey.dequeue())
    with runtime.session() as s:
        again = s.get(Document, doc_id)
        assert (again.status, again.updated_at) == ("indexed", stamp)
    assert huey.pending_count() == 0
    huey.flush()
    runtime.close()
