"""A stored file whose bytes change behind the app's back (disk fault, hand edit, bad
restore): downloads check the hash while streaming and stop before the end, the damage is
recorded and shown as a finding, later downloads are refused with a clear message, and
``evidence verify`` clears it once the file is restored. ``verify`` also reports blobs no
record names, empty blobs and temporary files left by a killed process."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import threading
import time

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from evidence_app.coverage.findings import compute_findings
from storage import AuditLog, Blob, BlobDamagedError, CatalogEntry
from tests.factories import add_document, make_user, worker_stopped

MB = 1024 * 1024
CONTENT = bytes(range(256)) * (3 * MB // 256)  # 3 MB: several chunks


@pytest.fixture
def damaged(runtime, make_framework, make_user, token_for):
    """A 3 MB document of entry 2.3.4-1 whose stored bytes were then changed (same size)."""
    fid = make_framework()["framework_id"]
    with worker_stopped(runtime), runtime.unit_of_work() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "2.3.4-1")).one()
        doc = add_document(s, runtime, fid, "2.3.4-1 影像资料.bin", CONTENT, entry=entry)
        doc_id = doc.id
    sha = hashlib.sha256(CONTENT).hexdigest()
    path = runtime.blobs.path_for(sha)
    altered = bytearray(CONTENT)
    altered[-10] ^= 0xFF  # one byte near the end: only the whole hash can tell
    os.chmod(path, 0o644)
    path.write_bytes(bytes(altered))
    return {
        "fid": fid,
        "doc": doc_id,
        "sha": sha,
        "path": path,
        "headers": token_for(make_user("admin", "管理员甲")),
    }


def test_a_damaged_download_stops_before_its_end_and_is_then_refused(
    app, runtime, damaged, invoke
) -> None:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        conn.request(
            "GET", f"/api/v1/documents/{damaged['doc']}/download", headers=damaged["headers"]
        )
        response = conn.getresponse()
        assert response.status == 200  # the damage shows only at the end of the stream
        with pytest.raises(http.client.IncompleteRead) as got:
            response.read()
        assert len(got.value.partial) < len(CONTENT)  # the last bytes never left
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    with runtime.session() as s:
        blob = s.get(Blob, damaged["sha"])
        assert blob.damaged_at is not None
        [record] = s.scalars(select(AuditLog).where(AuditLog.action == "blob.damaged")).all()
        assert record.username == "管理员甲" and record.detail["document"] == damaged["doc"]
        findings = compute_findings(s, damaged["fid"])
    [finding] = [f.as_json() for f in findings if f.kind == "damaged_document"]
    assert finding["severity"] == "high" and finding["documents"] == [damaged["doc"]]
    assert finding["codes"] == ["2.3.4-1"] and "校验值不符" in finding["detail"]

    client = app.test_client()
    again = client.get(f"/api/v1/documents/{damaged['doc']}/download", headers=damaged["headers"])
    assert again.status_code == 409
    assert "文件内容已损坏" in again.get_json()["error"]

    # verify confirms, then clears the mark once the original bytes are back
    result = invoke("verify", "--json")
    assert result.exit_code == 1
    assert {"kind": "blob_altered", "sha256": damaged["sha"]}.items() <= json.loads(result.output)[
        "problems"
    ][0].items()
    damaged["path"].write_bytes(CONTENT)
    result = invoke("verify", "--json")
    assert result.exit_code == 0, result.output
    ok = client.get(
        f"/api/v1/documents/{damaged['doc']}/download", headers=damaged["headers"], buffered=True
    )
    assert ok.status_code == 200 and ok.data == CONTENT


def test_the_test_client_sees_the_stream_fail(app, damaged) -> None:
    with pytest.raises(BlobDamagedError):
        app.test_client().get(
            f"/api/v1/documents/{damaged['doc']}/download",
            headers=damaged["headers"],
            buffered=True,
        )


def test_a_range_request_checks_the_whole_file_first(app, runtime, damaged, login) -> None:
    response = app.test_client().get(
        f"/api/v1/documents/{damaged['doc']}/download",
        headers={**damaged["headers"], "Range": "bytes=0-99"},
    )
    assert response.status_code == 409
    with runtime.session() as s:
        assert s.get(Blob, damaged["sha"]).damaged_at is not None
    # the page says it in Chinese too
    page = login(make_user(runtime, "reviewer")).get(f"/documents/{damaged['doc']}/download")
    assert page.status_code == 409
    assert "文件内容已损坏" in page.get_data(as_text=True)


def test_verify_reports_orphans_empty_blobs_and_stale_temporaries(runtime, invoke) -> None:
    orphan = runtime.blobs.put(io.BytesIO(b"never committed")).sha256
    empty = runtime.blobs.put(io.BytesIO(b"")).sha256
    with runtime.unit_of_work() as s:
        s.add(Blob(sha256=empty, size=0))
    tmp = runtime.blobs.tmp_dir
    tmp.mkdir(parents=True, exist_ok=True)
    stale = tmp / "up-killed"
    stale.write_bytes(b"half an upload")
    hour_ago = time.time() - 7200
    os.utime(stale, (hour_ago, hour_ago))
    fresh = tmp / "up-in-flight"
    fresh.write_bytes(b"being written now")

    result = invoke("verify", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert {"kind": "empty_blob", "sha256": empty} in problems
    assert {"kind": "orphan_blob", "sha256": orphan} in problems
    assert {"kind": "orphan_temp_file", "path": str(stale)} in problems
    assert not any(p.get("path") == str(fresh) for p in problems)  # in flight, not stale

    cleaned = invoke("verify", "--clean")
    assert "已清理无主文件和临时文件 2 个" in cleaned.output
    assert not runtime.blobs.exists(orphan) and not stale.exists() and fresh.exists()
    after = json.loads(invoke("verify", "--json").output)["problems"]
    assert after == [{"kind": "empty_blob", "sha256": empty}]
