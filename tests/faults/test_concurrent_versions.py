"""New versions of one document uploaded at the same time: each gets its own number, none
fails on the unique version number, no blob is left without a row."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from evidence_app.documents.versions import add_document_version
from storage import Blob, Document
from tests import factories


def test_concurrent_new_versions_all_land(runtime, make_framework, tmp_path: Path) -> None:
    fid = make_framework()["framework_id"]
    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("第一版", encoding="utf-8")
    doc_id = factories.ingest(runtime, [path], fid, process=False).documents[0]["id"]
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def upload(n: int) -> None:
        try:
            start.wait()
            with runtime.unit_of_work() as s:
                document = s.get(Document, doc_id)
                data = io.BytesIO(f"第{n + 2}版 内容".encode())
                add_document_version(s, runtime, document, data, f"v{n}.txt", None)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with runtime.session() as s:
        numbers = sorted(v.number for v in s.get(Document, doc_id).versions)
        rows = {b.sha256 for b in s.query(Blob)}
    assert numbers == [1, 2, 3, 4, 5, 6, 7]
    assert set(runtime.blobs.iter()) == rows
