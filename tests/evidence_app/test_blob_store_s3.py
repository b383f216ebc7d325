"""The whole app on a real S3 server (SeaweedFS): BLOB_STORE=s3://bucket/prefix.

Ingest, search, preview, downloads (streamed and presigned), new versions, the evidence
package, backup and restore into another instance, verify: all through the blob store
interface, with nothing written to the local blob folder and no temporary file left over.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from config import TestConfig
from evidence_app import create_app, get_runtime
from evidence_app.auth.users import create_token, create_user
from evidence_app.cli import cli
from evidence_app.frameworks.operations import import_framework_file
from evidence_app.runtime import Runtime
from storage import AuditLog, S3BlobStore
from tests._s3 import SeaweedFS

PASSWORD = "correct-horse-9"
FRAMEWORK_CSV = (
    "序号,一级指标,二级指标,三级指标,自评得分,佐证材料目录\n"
    "1,2. 提质 (10分),2.3 产教融合 (10分),2.3.4 企业订单学生所占比例（5分）,5,2.3.4-1 订单学明细表\n"
    "2,2. 提质 (10分),2.3 产教融合 (10分),2.3.5 现代学徒制试点（5分）,5,2.3.5-1 试点报告\n"
)
TEXT_V1 = "迅达电梯订单班 第一期 四十二人"
TEXT_V2 = "迅达电梯订单班 第二期 五十人 长隆产业学院"
PDF_PAGES = [
    ["第一章 总体情况", "学校高度重视职业教育改革。"],
    ["第二章 试点成效", "现代学徒制试点专业覆盖电梯工程技术等五个专业。"],
]


@dataclass
class Instance:
    """One app on its own instance folder, its blobs under their own S3 prefix."""

    app: Flask
    runtime: Runtime
    home: Path
    runner: FlaskCliRunner

    def invoke(self, *args: object) -> Any:
        return self.runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    def json(self, *args: object) -> Any:
        result = self.invoke(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    @property
    def store(self) -> S3BlobStore:
        assert isinstance(self.runtime.blobs, S3BlobStore)
        return self.runtime.blobs

    def assert_nothing_local(self) -> None:
        """No blob in the local folder; the temporary folder only used in passing."""
        blobs = self.home / "blobs"
        assert not blobs.exists() or not any(blobs.rglob("*")), list(blobs.rglob("*"))
        tmp = self.home / "tmp"
        assert not tmp.exists() or not any(tmp.iterdir()), list(tmp.iterdir())


@pytest.fixture
def make_instance(seaweedfs: SeaweedFS, tmp_path: Path) -> Iterator[Any]:
    """make_instance("a") -> a fresh instance whose BLOB_STORE is a new S3 prefix."""
    made: list[Instance] = []

    def make(name: str, **overrides: object) -> Instance:
        home = tmp_path / name
        config = TestConfig(
            home,
            BLOB_STORE=f"s3://{seaweedfs.bucket}/t{uuid.uuid4().hex[:12]}/{name}",
            S3_ENDPOINT_URL=seaweedfs.endpoint,
            AWS_ACCESS_KEY_ID=seaweedfs.access_key,
            AWS_SECRET_ACCESS_KEY=seaweedfs.secret_key,
            AWS_DEFAULT_REGION=seaweedfs.region,
            **overrides,
        )
        app = create_app(config)
        instance = Instance(app, get_runtime(app), home, app.test_cli_runner())
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.runtime.close()


def _pdf(pages: list[list[str]]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    for lines in pages:
        c.setFont("STSong-Light", 14)
        for n, line in enumerate(lines):
            c.drawString(72, 760 - 24 * n, line)
        c.showPage()
    c.save()
    return out.getvalue()


def _setup(instance: Instance, files: Path) -> dict[str, Any]:
    """`evidence init`, a two-entry framework, an admin with a token."""
    init = instance.invoke("init")
    assert init.exit_code == 0, init.output
    assert "文件存储：S3 s3://" in init.output
    table = files / "体系.csv"
    table.write_text(FRAMEWORK_CSV, encoding="utf-8")
    with instance.runtime.unit_of_work() as s:
        fw = import_framework_file(s, table, name="S3 测试体系")["framework_id"]
        admin = create_user(s, "admin", PASSWORD, "admin")
        s.flush()
        token = create_token(s, admin, "tests")
    return {"fw": fw, "headers": {"Authorization": f"Bearer {token}"}}


def _ingest(instance: Instance, fw: int, *paths: Path) -> dict[str, dict[str, Any]]:
    report = instance.json("ingest", *paths, "--framework", fw)
    assert report["rejected"] == []
    return {d["name"]: d for d in report["documents"]}


def _codes(instance: Instance, query: str) -> list[tuple[str, list[int]]]:
    return [(h["code"], h["pages"]) for h in instance.json("search", query)["hits"]]


def test_the_app_on_s3_end_to_end(make_instance, seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    a = make_instance("a")
    setup = _setup(a, files)
    fw, headers = setup["fw"], setup["headers"]
    client = a.app.test_client()

    # -- ingest: a text file, a PDF, and a PDF whose name says it is a Word file
    text = files / "2.3.4-1 订单学明细表.txt"
    text.write_text(TEXT_V1, encoding="utf-8")
    pdf = files / "2.3.5-1 现代学徒制试点报告.pdf"
    pdf_bytes = _pdf(PDF_PAGES)
    pdf.write_bytes(pdf_bytes)
    scan = files / "2.3.5-1 扫描件.docx"
    scan.write_bytes(_pdf([["订单班 扫描件 扩展名不对"]]))
    docs = _ingest(a, fw, text, pdf, scan)
    assert {name: d["status"] for name, d in docs.items()} == {
        text.name: "indexed",
        pdf.name: "indexed",
        scan.name: "indexed",
    }
    text_id, pdf_id, scan_id = (docs[p.name]["id"] for p in (text, pdf, scan))
    # the type is read from the content while processing, not guessed from the name
    types = {
        d: client.get(f"/api/v1/documents/{d}", headers=headers, buffered=True).get_json()[
            "file_type"
        ]
        for d in (text_id, pdf_id, scan_id)
    }
    assert types == {text_id: "text", pdf_id: "pdf", scan_id: "pdf"}
    assert len(list(a.store.iter())) == 3

    # -- search
    assert _codes(a, "学徒制") == [("2.3.5-1", [2])]
    assert sorted(_codes(a, "订单班")) == [("2.3.4-1", [1]), ("2.3.5-1", [1])]

    # -- downloads through the app: the exact bytes, with a length, ranges and an ETag
    # (buffered: the test client then closes the streamed S3 body, as a WSGI server does)
    url = f"/api/v1/documents/{pdf_id}/download"
    response = client.get(url, headers=headers, buffered=True)
    assert response.status_code == 200
    assert response.data == pdf_bytes
    assert response.content_length == len(pdf_bytes)
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    part = client.get(url, headers={**headers, "Range": "bytes=0-7"}, buffered=True)
    assert (part.status_code, part.data) == (206, pdf_bytes[:8])
    etag = response.headers["ETag"]
    assert etag == f'"{hashlib.sha256(pdf_bytes).hexdigest()}"'
    cached = client.get(url, headers={**headers, "If-None-Match": etag}, buffered=True)
    assert (cached.status_code, cached.data) == (304, b"")

    # -- the page view and page images (pdfium reads a temporary download)
    web = a.app.test_client()
    login = web.post("/login", data={"username": "admin", "password": PASSWORD})
    assert login.status_code == 302
    view = web.get(f"/documents/{pdf_id}/view?q=学徒制&page=2", buffered=True)
    assert view.status_code == 200 and b"pages/2.png" in view.data
    png = web.get(f"/documents/{pdf_id}/pages/2.png?q=学徒制", buffered=True)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert web.get(f"/documents/{pdf_id}/pages/9.png", buffered=True).status_code == 404
    web_download = web.get(f"/documents/{text_id}/download", buffered=True)
    assert web_download.data == TEXT_V1.encode()

    # -- a new version through the API: both versions downloadable, the new text searchable
    upload = client.post(
        f"/api/v1/documents/{text_id}/versions",
        headers=headers,
        data={"file": (io.BytesIO(TEXT_V2.encode()), "2.3.4-1 订单学明细表（第二版）.txt")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    download = f"/api/v1/documents/{text_id}/download"
    assert client.get(download, headers=headers, buffered=True).data == TEXT_V2.encode()
    assert (
        client.get(download + "?version=1", headers=headers, buffered=True).data == TEXT_V1.encode()
    )
    assert _codes(a, "长隆") == [("2.3.4-1", [1])]

    # -- the evidence package holds the current files' bytes
    package = tmp_path / "package.zip"
    exported = a.json("export", "--framework", fw, package)
    assert exported["files"] == 3
    with zipfile.ZipFile(package) as zf:
        contents = {zf.read(n) for n in zf.namelist() if not n.endswith("/")}
        manifest = zf.read("manifest-sha256.txt").decode("utf-8").splitlines()
        for line in manifest:
            sha, name = line.split("  ", 1)
            assert hashlib.sha256(zf.read(name)).hexdigest() == sha
    assert {TEXT_V2.encode(), pdf_bytes, scan.read_bytes()} <= contents
    assert TEXT_V1.encode() not in contents

    # -- verify
    verified = a.json("verify")
    assert verified["ok"] is True and verified["blobs"] == 4, verified

    # -- backup, then restore into a fresh instance with its own prefix
    backup = tmp_path / "backup.zip"
    assert a.invoke("backup", backup).exit_code == 0
    with zipfile.ZipFile(backup) as zf:
        members = {n for n in zf.namelist() if n.startswith("blobs/")}
    assert members == {f"blobs/{sha}" for sha in a.store.iter()}
    b = make_instance("b")
    assert b.store.prefix != a.store.prefix
    restored = b.invoke("restore", backup)
    assert restored.exit_code == 0, restored.output
    assert sorted(b.store.iter()) == sorted(a.store.iter())
    assert _codes(b, "学徒制") == [("2.3.5-1", [2])]
    assert _codes(b, "长隆") == [("2.3.4-1", [1])]
    restored_download = b.app.test_client().get(
        f"/api/v1/documents/{pdf_id}/download", headers=headers, buffered=True
    )
    assert restored_download.data == pdf_bytes
    assert b.json("verify")["ok"] is True

    # -- an object changed behind the store's back: verify says which
    sha = hashlib.sha256(pdf_bytes).hexdigest()
    seaweedfs.client().put_object(Bucket=a.store.bucket, Key=a.store.key_for(sha), Body=b"x")
    result = a.invoke("verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["problems"] == [
        {"kind": "blob_altered", "sha256": sha, "actual": hashlib.sha256(b"x").hexdigest()}
    ]
    # ... and backup refuses to copy it
    refused = a.invoke("backup", tmp_path / "second.zip")
    assert refused.exit_code == 1 and "哈希不符" in refused.output

    for instance in (a, b):
        instance.assert_nothing_local()


def test_presigned_downloads_redirect_to_s3(
    make_instance,
    seaweedfs: SeaweedFS,
    tmp_path: Path,
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    a = make_instance("p", S3_PRESIGNED_DOWNLOADS=True)
    setup = _setup(a, files)
    text = files / "2.3.4-1 订单学明细表.txt"
    text.write_text(TEXT_V1, encoding="utf-8")
    doc = _ingest(a, setup["fw"], text)[text.name]["id"]

    response = a.app.test_client().get(
        f"/api/v1/documents/{doc}/download", headers=setup["headers"]
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(seaweedfs.endpoint + "/"), location
    assert seaweedfs.endpoint.startswith("http://127.0.0.1:")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 direct
    with opener.open(location, timeout=10) as fetched:
        assert fetched.read() == TEXT_V1.encode()
        disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    with a.runtime.session() as s:
        actions = list(
            s.scalars(
                select(AuditLog.action).where(
                    AuditLog.object_type == "document", AuditLog.object_id == doc
                )
            )
        )
    assert "document.download" in actions
    a.assert_nothing_local()
