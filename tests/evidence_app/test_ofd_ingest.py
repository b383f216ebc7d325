"""OFD end to end: ingested, found by phrase on the right page, refused with a reason."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_app.documents.operations import mimetype_for
from storage import Document
from tests.evidence_app.test_ingest import ingest, search

OFD_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ofd"


@pytest.fixture
def fw(make_framework) -> int:
    return make_framework()["framework_id"]


def test_ofd_invoice_is_found_on_its_page(invoke, fw: int, runtime, tmp_path: Path) -> None:
    invoice = tmp_path / "2.3.4-1 餐费发票.ofd"
    shutil.copy(OFD_FIXTURES / "ofdrw__invoice_5_pages.ofd", invoice)
    cut = tmp_path / "2.3.4-2 损坏.ofd"
    cut.write_bytes(invoice.read_bytes()[:5000])
    report = ingest(invoke, invoice, cut, framework=fw)
    assert {d["name"]: d["status"] for d in report["documents"]} == {
        "2.3.4-1 餐费发票.ofd": "indexed",
        "2.3.4-2 损坏.ofd": "failed",
    }
    with runtime.session() as s:
        docs = {d.code: d for d in s.scalars(select(Document))}
        assert docs["2.3.4-1"].file_type == docs["2.3.4-2"].file_type == "ofd"
        assert (
            docs["2.3.4-2"].status_reason == "OFD文件已损坏，无法打开：请用原软件打开检查后重新上传"
        )
    hits = search(invoke, '"壹万零陆佰圆整"')["hits"]
    assert [(h["code"], h["pages"]) for h in hits] == [("2.3.4-1", [1])]
    hits = search(invoke, '"共 4 页第 3 页"')["hits"]
    assert [(h["code"], h["pages"]) for h in hits] == [("2.3.4-1", [4])]


def test_ofd_pages_in_the_viewer(
    invoke, fw: int, make_user, login, runtime, tmp_path: Path
) -> None:
    from PIL import Image

    invoice = tmp_path / "2.3.4-1 餐费发票.ofd"
    shutil.copy(OFD_FIXTURES / "ofdrw__invoice_5_pages.ofd", invoice)
    (doc,) = ingest(invoke, invoice, framework=fw)["documents"]
    client = login(make_user("admin"))
    view = client.get(f"/documents/{doc['id']}/view?page=3").get_data(as_text=True)
    assert f'src="/documents/{doc["id"]}/pages/3.png' in view
    assert "27 *餐饮服务*餐费 100.00 6% 6.00" in view
    png = client.get(f"/documents/{doc['id']}/pages/3.png?w=800")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert Image.open(io.BytesIO(png.data)).size == (800, 1131)
    assert client.get(f"/documents/{doc['id']}/pages/9.png").status_code == 404


def test_ofd_mimetype() -> None:
    assert mimetype_for("通知.OFD") == "application/ofd"
    assert mimetype_for("a.pdf") == "application/pdf"
    assert mimetype_for("README") == "application/octet-stream"
