"""A small DOCX whose text inflates to 105 MB of XML: refused before any library parses it,
with a clear reason, in bounded memory (it used to drive the worker to 5.9 GB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from storage import Document
from tests import factories

INFLATED_BYTES = 105 * 1024 * 1024


def _inflating_docx(path: Path) -> Path:
    """A real DOCX whose word/document.xml is one paragraph repeated to 105 MB."""
    paragraph = "<w:p><w:r><w:t>" + "佐证材料" * 200 + "</w:t></w:r></w:p>"
    factories.inflated_docx(path, paragraph.encode() * 1000, INFLATED_BYTES)
    assert path.stat().st_size < 2 * 1024 * 1024
    return path


def test_an_inflating_docx_is_refused_with_a_reason(runtime, make_framework, tmp_path) -> None:
    fid = make_framework()["framework_id"]
    path = _inflating_docx(tmp_path / "2.3.4-1 膨胀文档.docx")
    doc = factories.ingest(runtime, [path], fid).documents[0]
    assert doc["status"] == "failed"
    with runtime.session() as s:
        reason = s.get(Document, doc["id"]).status_reason
    assert reason == "文件解压后过大（疑似异常文件），已停止读取"


def test_extraction_of_an_inflating_docx_stays_small(tmp_path) -> None:
    """Peak memory of a process that extracts it (as the worker does): well under 1 GB."""
    path = _inflating_docx(tmp_path / "bomb.docx")
    script = (
        "import json, sys\n"
        "from indexer import ExtractionError, extract_pages\n"
        "try:\n"
        "    list(extract_pages(sys.argv[1], 'docx'))\n"
        "    outcome = 'read'\n"
        "except ExtractionError as e:\n"
        "    outcome = str(e)\n"
        # VmHWM: this program's own peak (ru_maxrss would include the forked test runner's)
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "peak = int(status.split()[0]) // 1024\n"
        "print(json.dumps({'outcome': outcome, 'peak_mb': peak}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "decompression bomb" in report["outcome"]
    assert report["peak_mb"] < 1024, report
