"""Extraction runs in a child process with a memory and a time limit: a file that takes too
much memory, hangs or crashes its reader ends ``failed`` with the reason, the other
documents of the batch are indexed, and the worker itself keeps running in little memory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from docx import Document as WordDocument
from docx.shared import Cm

from indexer import ExtractionSandbox, TimeLimitError
from indexer._sandbox import child_pid, stop_child
from storage import Blob, Document, DocumentPage
from tests import factories
from tests.conftest import ROOT, corpus_file

SCANLIKE = "derived__fzu_撰写规范_p1-3_scanlike.pdf"


def _memory_hungry_docx(path: Path, xml_mb: int) -> Path:
    """A valid DOCX of one-word paragraphs, ``xml_mb`` MB of XML (under the 48 MB a DOCX may
    unpack to, so it is read): python-docx builds ~25 bytes of tree per byte of XML."""
    chunk = "<w:p><w:r><w:t>佐证</w:t></w:r></w:p>".encode() * 10_000
    factories.inflated_docx(path, chunk, xml_mb * 1024 * 1024)
    assert path.stat().st_size < 200 * 1024
    return path


def _slow_ocr_docx(path: Path, scan_pdf: Path, copies: int = 3) -> Path:
    """A DOCX of scanned pages pasted as pictures: read by OCR, all into one page, so its
    reader runs for seconds (about one per picture) without producing a page."""
    import pypdfium2 as pdfium

    word = WordDocument()
    pdf = pdfium.PdfDocument(str(scan_pdf))
    try:
        for n in range(len(pdf)):
            image = path.with_name(f"scan{n}.png")
            pdf[n].render(scale=150 / 72).to_pil().save(image)
            for _ in range(copies):
                word.add_picture(str(image), width=Cm(16))
    finally:
        pdf.close()
    word.save(path)
    return path


def _text_file(path: Path) -> Path:
    path.write_text("实训基地建设方案：校企共建智能制造实训中心。", encoding="utf-8")
    return path


def _state(runtime, doc_id: int) -> tuple[str, str, str, int]:
    with runtime.session() as s:
        d = s.get(Document, doc_id)
        pages = s.query(DocumentPage).filter_by(document_id=doc_id).count()
        return d.status, d.status_reason, d.file_type, pages


def _sandbox_children() -> dict[int, float]:
    """This process's extraction children: pid -> CPU seconds used so far."""
    found = {}
    me = os.getpid()
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            kids = Path(f"/proc/{me}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for pid in map(int, kids):
            try:
                if b"indexer._sandbox" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def test_a_file_over_the_memory_limit_fails_and_the_batch_goes_on(
    runtime, make_framework, tmp_path: Path
) -> None:
    runtime.config.EXTRACT_MEMORY_MB = 150
    fid = make_framework()["framework_id"]
    big = _memory_hungry_docx(tmp_path / "2.3.4-1 超大文档.docx", xml_mb=6)  # ~210 MB to read
    small = _text_file(tmp_path / "2.3.4-2 建设方案.txt")
    report = factories.ingest(runtime, [big, small], fid)
    big_doc, small_doc = report.documents
    status, reason, file_type, pages = _state(runtime, big_doc["id"])
    assert (status, reason) == ("failed", "解析时内存超过上限（150 MB），已停止")
    assert (file_type, pages) == ("docx", 0)  # the type was read before the child was stopped
    assert _state(runtime, small_doc["id"])[::3] == ("indexed", 1)
    # nothing lost: the document and its blob stay, and it can be read with more memory
    with runtime.session() as s:
        sha = s.get(Document, big_doc["id"]).current.blob_sha256
        assert s.get(Blob, sha) is not None
    assert runtime.blobs.exists(sha)
    runtime.config.EXTRACT_MEMORY_MB = 2048
    runtime.jobs.process_now([big_doc["id"]])
    assert _state(runtime, big_doc["id"])[::3] == ("indexed", 1)


def test_no_progress_within_the_time_limit_fails_and_the_next_is_read(
    runtime, make_framework, corpus_dir: Path, tmp_path: Path
) -> None:
    runtime.config.EXTRACT_TIMEOUT_SECONDS = 1
    fid = make_framework()["framework_id"]
    slow = _slow_ocr_docx(tmp_path / "2.3.4-1 扫描件.docx", corpus_file(corpus_dir, SCANLIKE))
    small = _text_file(tmp_path / "2.3.4-2 建设方案.txt")
    started = time.monotonic()
    report = factories.ingest(runtime, [slow, small], fid)
    assert time.monotonic() - started < 30
    slow_doc, small_doc = report.documents
    assert _state(runtime, slow_doc["id"])[:3] == (
        "failed",
        "解析超时（1 秒没有进展），已停止",
        "docx",
    )
    assert _state(runtime, small_doc["id"])[::3] == ("indexed", 1)


def test_a_hanging_read_is_stopped_and_the_child_replaced(tmp_path: Path) -> None:
    """A FIFO nobody writes to: reading it blocks for ever, as a hung library would."""
    fifo = tmp_path / "hangs.txt"
    os.mkfifo(fifo)
    sandbox = ExtractionSandbox(memory_mb=2048, timeout=1)
    sandbox.detect_file_type(_text_file(tmp_path / "a.txt"))
    first = child_pid()
    started = time.monotonic()
    with pytest.raises(TimeLimitError):
        sandbox.detect_file_type(fifo)
    assert 1 <= time.monotonic() - started < 10
    assert child_pid() is None and not Path(f"/proc/{first}").exists()
    assert sandbox.detect_file_type(tmp_path / "a.txt") == "text"
    assert child_pid() not in (None, first)


def test_a_crashed_reader_fails_its_document_and_the_next_is_read(
    runtime, make_framework, corpus_dir: Path, tmp_path: Path
) -> None:
    """The child dies of SIGSEGV in the middle of an OCR (as a crashing library would)."""
    fid = make_framework()["framework_id"]
    slow = _slow_ocr_docx(tmp_path / "2.3.4-1 扫描件.docx", corpus_file(corpus_dir, SCANLIKE))
    small = _text_file(tmp_path / "2.3.4-2 建设方案.txt")
    killed: list[int] = []
    done = threading.Event()

    def crash_the_reader() -> None:
        seen: dict[int, float] = {}
        while not done.is_set():
            for pid, cpu in _sandbox_children().items():
                if cpu - seen.setdefault(pid, cpu) > 0.5:  # busy with the scan for a while
                    os.kill(pid, signal.SIGSEGV)
                    killed.append(pid)
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=crash_the_reader)
    killer.start()
    try:
        report = factories.ingest(runtime, [slow, small], fid)
    finally:
        done.set()
        killer.join()
    assert len(killed) == 1
    slow_doc, small_doc = report.documents
    assert _state(runtime, slow_doc["id"])[:3] == ("failed", "解析进程意外退出（信号 11）", "docx")
    assert _state(runtime, small_doc["id"])[::3] == ("indexed", 1)
    assert killed[0] not in _sandbox_children()


def test_ocr_works_inside_the_address_space_fence(corpus_dir: Path) -> None:
    """RLIMIT_AS is set to a multiple of the limit (at least 4 GB): ONNX Runtime still runs."""
    sandbox = ExtractionSandbox(memory_mb=1024, timeout=120)
    pages = sandbox.extract_pages(corpus_file(corpus_dir, "chatchat__ocr_test.jpg"), "image")
    assert [p.source for p in pages] == ["ocr"]
    assert "横向文本框" in pages[0].text


def test_each_thread_has_its_own_child_which_ends_with_it(tmp_path: Path) -> None:
    path = _text_file(tmp_path / "a.txt")
    pids: list[int | None] = []

    def read() -> None:
        assert ExtractionSandbox().extract_pages(path, "text")[0].text.startswith("实训基地")
        pids.append(child_pid())

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 2 and None not in pids
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    stop_child()


WORKER = """
import json, sys
from pathlib import Path
from config import TestConfig
from evidence_app import create_app, get_runtime
from evidence_app.documents.ingest import ingest_files
from storage import upgrade_database

home, big, small, in_process = sys.argv[1:5]
app = create_app(TestConfig(home, EXTRACT_MEMORY_MB=150, EXTRACT_IN_PROCESS=in_process == "1"))
runtime = get_runtime(app)
upgrade_database(runtime.engine)
found = []
for path in (big, small):  # one job after the other, as a worker takes them
    report = ingest_files(runtime, [Path(path)], framework_id=None)
    found.append(report.documents[0]["status"])
runtime.close()
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0]) // 1024
print(json.dumps({"statuses": found, "peak_mb": peak}))
"""


@pytest.mark.parametrize("in_process", [False, True], ids=["child", "in_process"])
def test_the_worker_stays_alive_and_small(tmp_path: Path, in_process: bool) -> None:
    """A worker process (its own program: its peak is its own) takes a file that needs
    ~400 MB to read, then a normal one. With the child the worker's own peak stays near its
    size at rest (170 MB); read in the worker itself (the control) it reaches ~550 MB."""
    big = _memory_hungry_docx(tmp_path / "2.3.4-1 超大文档.docx", xml_mb=12)
    small = _text_file(tmp_path / "2.3.4-2 建设方案.txt")
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(tmp_path / "i"), str(big), str(small)]
        + ["1" if in_process else "0"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if in_process:
        assert report["statuses"] == ["indexed", "indexed"]
        assert report["peak_mb"] > 400, report
    else:
        assert report["statuses"] == ["failed", "indexed"]
        assert report["peak_mb"] < 250, report
