"""Faults: a worker killed mid-OCR, a database connection dropped mid-request, a full disk,
an index lock held by another process. After each, `evidence verify` passes and every
accepted upload is present."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from storage import Document

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def cli_env(home: Path, database_url: str | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "HUEY_IMMEDIATE")
    }
    env.update({"EVIDENCE_HOME": str(home), "SECRET_KEY": "faults", "LOG_LEVEL": "WARNING"})
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def evidence(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evidence_app.cli", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def scanned_pdf(path: Path, lines: list[str], pages: int) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(FONT), 40)
    images = []
    for number in range(pages):
        image = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines):
            draw.text((100, 150 + 90 * i), f"{line}（第{number + 1}页）", font=face, fill=0)
        images.append(image.convert("RGB"))
    images[0].save(path, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return path


def document_status(env: dict, doc_id: int) -> str:
    from sqlalchemy import create_engine

    from config import Config

    engine = create_engine(Config(env).DATABASE_URL)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT status FROM documents WHERE id = :i"), {"i": doc_id}
            ).scalar()
    finally:
        engine.dispose()


def test_worker_killed_mid_ocr_loses_nothing(tmp_path: Path) -> None:
    if not FONT.exists():
        pytest.skip("fonts-wqy-zenhei not installed (needed to draw the scanned pages)")
    env = cli_env(tmp_path / "home")
    assert evidence(env, "init").returncode == 0
    scan = scanned_pdf(
        tmp_path / "2.3.5-2 盖章文件.pdf",
        ["关于现代学徒制试点的通知", "迅达电梯订单班验收合格"],
        pages=4,
    )
    out = evidence(env, "ingest", scan, "--queue", "--json")
    assert out.returncode == 0, out.stderr
    doc_id = json.loads(out.stdout)["documents"][0]["id"]
    assert json.loads(out.stdout)["documents"][0]["status"] == "pending"

    worker = subprocess.Popen(
        [sys.executable, "-m", "evidence_app.cli", "worker", "--workers", "1"], env=env
    )
    try:
        deadline = time.time() + 60
        while document_status(env, doc_id) != "processing":
            assert time.time() < deadline, "the worker never started the job"
            time.sleep(0.05)
        time.sleep(0.5)  # inside OCR now
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert document_status(env, doc_id) == "processing"

    worker = subprocess.Popen(
        [sys.executable, "-m", "evidence_app.cli", "worker", "--workers", "1"], env=env
    )
    try:
        deadline = time.time() + 180
        while document_status(env, doc_id) != "indexed":
            assert time.time() < deadline, "the restarted worker did not finish the document"
            time.sleep(0.3)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    verify = evidence(env, "verify", "--json")
    assert verify.returncode == 0, verify.stdout
    hits = json.loads(evidence(env, "search", "订单班", "--json").stdout)["hits"]
    assert [h["document_id"] for h in hits] == [doc_id]
    assert hits[0]["pages"] == [1, 2, 3, 4]


def _upload(client, headers, name: str, text_: str):
    return client.post(
        "/api/v1/documents",
        headers=headers,
        data={"files": [(io.BytesIO(text_.encode()), name)]},
        content_type="multipart/form-data",
    )


def test_database_connection_dropped_mid_request(
    app, runtime, make_user, token_for, database_url, monkeypatch, invoke
) -> None:
    from sqlalchemy.exc import OperationalError

    from evidence_app.documents import ingest

    headers = token_for(make_user("staff"))
    client = app.test_client()
    original = ingest._ensure_blob
    dialect = runtime.engine.dialect.name

    def dropping(session, sha, size):
        original(session, sha, size)
        if dialect == "postgresql":  # the server really closes this connection
            session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        raise OperationalError("INSERT", {}, Exception("connection dropped"))

    monkeypatch.setattr(ingest, "_ensure_blob", dropping)
    failed = _upload(client, headers, "2.3.4-1 第一份.txt", "订单班 第一份")
    assert failed.status_code == 500 and failed.get_json() == {"error": "服务器内部错误"}
    monkeypatch.setattr(ingest, "_ensure_blob", original)
    ok = _upload(client, headers, "2.3.4-1 第二份.txt", "订单班 第二份")
    assert ok.status_code == 201, ok.get_data(as_text=True)
    with runtime.session() as s:
        titles = s.scalars(select(Document.title)).all()
    assert titles == ["第二份"]  # the first request left nothing half-written
    verify = invoke("verify", "--json")
    assert verify.exit_code == 0, verify.output


def test_disk_full_while_writing_a_blob(
    app, runtime, make_user, token_for, monkeypatch, invoke
) -> None:
    import errno

    import storage._blobs as blobs

    headers = token_for(make_user("staff"))
    client = app.test_client()
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(blobs.os, "fsync", full)
    refused = _upload(client, headers, "2.3.4-1 大文件.txt", "订单班 " * 1000)
    assert refused.status_code == 400
    assert refused.get_json()["rejected"] == [
        {"name": "2.3.4-1 大文件.txt", "reason": "服务器存储空间已满，文件未保存，请联系管理员"}
    ]
    monkeypatch.setattr(blobs.os, "fsync", real_fsync)
    assert list((runtime.blobs.root / "tmp").iterdir()) == []
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
    ok = _upload(client, headers, "2.3.4-1 大文件.txt", "订单班 " * 1000)
    assert ok.status_code == 201
    assert invoke("verify").exit_code == 0


def test_index_lock_held_by_another_process(
    app, runtime, invoke, make_framework, tmp_path: Path
) -> None:
    make_framework()
    runtime.index  # noqa: B018 - create the index before another process locks it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from whoosh import index\n"
            "ix = index.open_dir(sys.argv[1])\n"
            "w = ix.writer()\n"
            "print('locked', flush=True)\n"
            "time.sleep(4)\n"
            "w.cancel()\n",
            str(runtime.config.INDEX_DIR),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        path = tmp_path / "2.3.4-1 明细表.txt"
        path.write_text("订单班 名单", encoding="utf-8")
        started = time.monotonic()
        result = invoke("ingest", path, "--json")
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
        holder.stdout.close()
    report = json.loads(result.output)
    assert report["documents"][0]["status"] == "indexed"
    assert waited >= 2  # it waited for the other writer instead of failing or corrupting
    assert invoke("verify").exit_code == 0
    hits = json.loads(invoke("search", "订单班", "--json").output)["hits"]
    assert [h["document_id"] for h in hits] == [report["documents"][0]["id"]]
