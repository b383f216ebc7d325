"""Backup and restore round trip, across databases; worker crash recovery."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from storage import AuditLog, CatalogEntry, Document, Indicator
from tests.conftest import load_module

es = load_module(Path(__file__).with_name("_evidence_set.py"))


def test_backup_restore_round_trip(
    app, runtime, invoke, make_framework, tmp_path: Path, database_url: str
) -> None:
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from evidence_app.cli import cli

    fw = make_framework()["framework_id"]
    a = tmp_path / "2.3.4-1 明细表.txt"
    a.write_text("迅达电梯订单班 四十二人", encoding="utf-8")
    b = tmp_path / "无编号.txt"
    b.write_text("现代学徒制试点", encoding="utf-8")
    assert invoke("ingest", a, b, "--framework", fw).exit_code == 0
    before = json.loads(invoke("search", "订单班", "--json").output)
    out = tmp_path / "backup.zip"
    result = invoke("backup", out)
    assert result.exit_code == 0, result.output

    # restore into a fresh SQLite instance (whatever the source database was)
    target = create_app(TestConfig(tmp_path / "restored"))
    runner = target.test_cli_runner()
    restored = runner.invoke(cli, ["restore", str(out)], catch_exceptions=False)
    assert restored.exit_code == 0, restored.output
    new = get_runtime(target)
    with runtime.session() as s1, new.session() as s2:
        for model in (Indicator, CatalogEntry, Document, AuditLog):
            assert s1.scalar(select(func.count()).select_from(model)) == s2.scalar(
                select(func.count()).select_from(model)
            )
    after = json.loads(runner.invoke(cli, ["search", "订单班", "--json"]).output)
    assert [(h["document_id"], h["pages"]) for h in after["hits"]] == [
        (h["document_id"], h["pages"]) for h in before["hits"]
    ]
    verify = runner.invoke(cli, ["verify", "--json"])
    assert verify.exit_code == 0, verify.output
    # a second restore into a non-empty instance is refused, nothing changed
    again = runner.invoke(cli, ["restore", str(out)])
    assert again.exit_code == 1 and "不是空的" in again.output
    # new rows get fresh ids after a restore (sequences moved on)
    with new.session() as s:
        from evidence_app.auth.users import create_user

        user = create_user(s, "after-restore", "abcdefgh1", "staff")
        s.commit()
        assert user.id >= 1
    new.close()


def test_restore_rejects_a_damaged_backup(invoke, make_framework, tmp_path: Path) -> None:
    import zipfile

    make_framework()
    a = tmp_path / "2.3.4-1 明细表.txt"
    a.write_text("订单班", encoding="utf-8")
    invoke("ingest", a)
    out = tmp_path / "b.zip"
    invoke("backup", out)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("blobs/"):
                data = b"tampered"
            dst.writestr(info, data)
    from config import TestConfig
    from evidence_app import create_app
    from evidence_app.cli import cli

    target = create_app(TestConfig(tmp_path / "r"))
    result = target.test_cli_runner().invoke(cli, ["restore", str(broken)])
    assert result.exit_code == 1 and "已损坏" in result.output
    nonsense = tmp_path / "x.zip"
    nonsense.write_bytes(b"not a zip")
    result = target.test_cli_runner().invoke(cli, ["restore", str(nonsense)])
    assert result.exit_code == 1 and "不是有效的备份文件" in result.output


def test_worker_recovers_documents_a_dead_worker_left(
    runtime, make_framework, tmp_path: Path
) -> None:
    from datetime import timedelta

    from evidence_app.documents.ingest import ingest_files
    from evidence_app.tasks import recover_stale
    from storage import utcnow

    fw = make_framework()["framework_id"]
    a = tmp_path / "2.3.4-1 明细表.txt"
    a.write_text("订单班 名单", encoding="utf-8")
    with es.worker_stopped(runtime):  # the worker that took the job died
        report = ingest_files(runtime, [a], framework_id=fw, process=False)
    with runtime.unit_of_work() as s:
        doc = s.get(Document, report.new_ids[0])
        # a worker took it and died: still 'processing', last touched long ago
        doc.status = "processing"
        doc.updated_at = utcnow() - timedelta(hours=1)
    assert recover_stale(runtime) == [doc.id]  # immediate mode: processed right here
    with runtime.session() as s:
        assert s.get(Document, doc.id).status == "indexed"
    assert runtime.index.doc_ids() == {doc.id}
    assert recover_stale(runtime) == []
