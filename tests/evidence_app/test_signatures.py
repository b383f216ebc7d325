"""Signed files end to end: a PDF signed with a real CMS signature and an OFD invoice with
an electronic seal are processed, show 含电子签章 (lists, document page, viewer), can be
searched for with signed=1, and the evidence package's catalog says 是 (who signed)."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from evidence_app.experts.access import end_of_access, invite_expert
from indexer import ExtractionSandbox, TimeLimitError
from storage import Document, DocumentVersion, Indicator
from tests._signed_pdf import sign_pdf
from tests.evidence_app.test_ingest import ingest, search
from tests.factories import bearer_header, multi_page_pdf

OFD = Path(__file__).resolve().parents[1] / "fixtures" / "ofd"
SCHOOL = "某某职业技术学院"
TAX_SEAL = "全国统一发票监制章国家税务总局重庆市税务局"


@pytest.fixture
def signed_set(invoke, make_framework, tmp_path: Path) -> dict[str, int]:
    """A framework with a signed PDF (2.3.4-1), an unsigned one (2.3.4-2) and a sealed OFD
    invoice linked to the indicator 2.3.4; their document ids by code."""
    fw = make_framework()["framework_id"]
    text = ["订单班协议 某某职业技术学院与迅达电梯有限公司"]
    signed = tmp_path / "2.3.4-1 订单班协议（签章版）.pdf"
    signed.write_bytes(sign_pdf(multi_page_pdf(text), SCHOOL))
    plain = tmp_path / "2.3.4-2 订单班协议.pdf"
    plain.write_bytes(multi_page_pdf(text))
    invoice = tmp_path / "2.3.4 餐费发票.ofd"
    shutil.copy(OFD / "ofdrw__invoice_5_pages.ofd", invoice)
    report = ingest(invoke, signed, plain, invoice, framework=fw)
    assert {d["status"] for d in report["documents"]} == {"indexed"}
    return {"framework": fw, **{d["code"]: d["id"] for d in report["documents"]}}


def test_facts_are_stored_on_the_version(runtime, signed_set: dict[str, int]) -> None:
    with runtime.session() as s:
        signed = s.get(Document, signed_set["2.3.4-1"]).current
        plain = s.get(Document, signed_set["2.3.4-2"]).current
        invoice = s.get(Document, signed_set["2.3.4"]).current
        assert signed.signature_count == 1
        assert signed.signatures[0]["signer"] == SCHOOL
        assert signed.signatures[0]["kind"] == "pdf"
        assert (plain.signature_count, plain.signatures) == (0, [])
        assert invoice.signature_count == 1
        assert invoice.signatures[0]["signer"] == TAX_SEAL
        assert invoice.file_metadata["invoice_number"] == "12235358"
        assert invoice.file_metadata["doc_id"] == "050001700111_12235358"


def test_lists_document_page_and_viewer_show_signed(
    runtime, make_user, login, signed_set: dict[str, int]
) -> None:
    client = login(make_user("admin"))
    with runtime.session() as s:
        indicator_id = s.scalar(
            select(Indicator.id).where(
                Indicator.framework_id == signed_set["framework"], Indicator.code == "2.3.4"
            )
        )
    page = client.get(f"/indicators/{indicator_id}").get_data(as_text=True)
    # the signed PDF and the sealed invoice carry the badge, the plain PDF does not
    assert page.count("含电子签章") == 2
    assert f'title="1 个电子签章：{SCHOOL}"' in page
    assert f'title="1 个电子签章：{TAX_SEAL}"' in page
    line = page[page.index("2.3.4-2 订单班协议.pdf") :].split("</div>")[0]
    assert "含电子签章" not in line

    detail = client.get(f"/documents/{signed_set['2.3.4-1']}").get_data(as_text=True)
    assert "含电子签章" in detail and f"数字签名：{SCHOOL}" in detail
    assert "2025-03-01 09:30:00" in detail
    plain = client.get(f"/documents/{signed_set['2.3.4-2']}").get_data(as_text=True)
    assert "含电子签章" not in plain and "<dt>电子签章</dt><dd>无</dd>" in plain
    invoice = client.get(f"/documents/{signed_set['2.3.4']}").get_data(as_text=True)
    for label, value in [
        ("发票号码", "12235358"),
        ("开票日期", "2020-08-05"),
        ("金额", "10600.00"),
        ("销售方", "财天下科技有限公司"),
        ("文档标识", "050001700111_12235358"),
        ("作者", "Huhuang Software"),
        ("创建时间", "2020-08-17"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in invoice, label
    assert f"电子签章：{TAX_SEAL}（印章：测试{TAX_SEAL}）" in invoice

    view = client.get(f"/documents/{signed_set['2.3.4-1']}/view").get_data(as_text=True)
    assert "含电子签章" in view


def test_the_queue_shows_a_signed_file_without_text(
    invoke, make_framework, make_user, login, tmp_path: Path
) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    blank = io.BytesIO()
    writer.write(blank)
    path = tmp_path / "2.3.4-1 盖章页.pdf"
    path.write_bytes(sign_pdf(blank.getvalue(), SCHOOL))
    (doc,) = ingest(invoke, path, framework=make_framework()["framework_id"])["documents"]
    assert doc["status"] == "empty"  # nothing to read, but signed all the same
    page = login(make_user("admin")).get("/queue").get_data(as_text=True)
    row = page[page.index("盖章页") :].split("</tr>")[0]
    assert f'title="1 个电子签章：{SCHOOL}"' in row


def test_files_whose_signatures_are_not_read_say_nothing_about_them(
    invoke, make_framework, make_user, login, tmp_path: Path
) -> None:
    text = tmp_path / "2.3.4-1 订单班名单.txt"
    text.write_text("订单班名单", encoding="utf-8")
    (doc,) = ingest(invoke, text, framework=make_framework()["framework_id"])["documents"]
    page = login(make_user("admin")).get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert "电子签章" not in page


def test_an_expert_sees_signed_files(app, runtime, signed_set: dict[str, int]) -> None:
    with runtime.unit_of_work() as s:
        expert = invite_expert(
            s, framework_id=signed_set["framework"], name="王专家", expires_at=end_of_access(days=7)
        ).expert.id
        indicator_id = s.scalar(
            select(Indicator.id).where(
                Indicator.framework_id == signed_set["framework"], Indicator.code == "2.3.4"
            )
        )
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = f"{expert}:0"
    page = client.get(f"/expert/indicators/{indicator_id}").get_data(as_text=True)
    assert page.count("含电子签章") == 2 and f"1 个电子签章：{SCHOOL}" in page


def test_search_filters_on_signed(
    invoke, runtime, make_user, login, client, signed_set: dict[str, int]
) -> None:
    both = {h["code"] for h in search(invoke, "订单班协议")["hits"]}
    assert both == {"2.3.4-1", "2.3.4-2"}
    hits = search(invoke, "订单班协议", "--signed")["hits"]
    assert [(h["code"], h["signatures"]) for h in hits] == [
        ("2.3.4-1", {"count": 1, "signers": [SCHOOL]})
    ]

    admin = make_user("admin")
    page = login(admin).get("/search?q=订单班协议&signed=1").get_data(as_text=True)
    assert "2.3.4-1" in page and "2.3.4-2" not in page
    assert 'name="signed" value="1" checked' in page

    headers = bearer_header(runtime, admin)
    found = client.get("/api/v1/search?q=订单班协议&signed=1", headers=headers).get_json()
    assert [h["code"] for h in found["hits"]] == ["2.3.4-1"]
    found = client.get("/api/v1/search?q=订单班协议", headers=headers).get_json()
    assert {h["code"]: h["signatures"]["count"] for h in found["hits"]} == {
        "2.3.4-1": 1,
        "2.3.4-2": 0,
    }
    doc = client.get(f"/api/v1/documents/{signed_set['2.3.4']}", headers=headers).get_json()
    assert doc["signatures"] == {"count": 1, "signers": [TAX_SEAL]}
    assert doc["metadata"]["invoice_seller"] == "财天下科技有限公司"
    assert doc["versions"][0]["signature_count"] == 1

    # a new, unsigned version: the document is no longer signed
    response = client.post(
        f"/api/v1/documents/{signed_set['2.3.4-1']}/versions",
        headers=headers,
        data={"file": (io.BytesIO(multi_page_pdf(["订单班协议 修订版"])), "协议.pdf")},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    with runtime.session() as s:
        first, second = s.get(Document, signed_set["2.3.4-1"]).versions
        assert (first.signature_count, second.signature_count) == (1, 0)
    assert search(invoke, "订单班协议", "--signed")["hits"] == []


def test_reindex_with_extraction_fills_the_facts_of_stored_files(
    invoke, runtime, signed_set: dict[str, int]
) -> None:
    with runtime.unit_of_work() as s:  # as stored before signatures were read
        s.execute(
            update(DocumentVersion).values(signature_count=0, signatures=None, file_metadata=None)
        )
    assert search(invoke, "订单班协议", "--signed")["hits"] == []
    assert invoke("reindex", "--extract").exit_code == 0
    with runtime.session() as s:
        assert s.get(Document, signed_set["2.3.4-1"]).current.signature_count == 1
        invoice = s.get(Document, signed_set["2.3.4"]).current
        assert invoice.file_metadata["invoice_seller"] == "财天下科技有限公司"
    assert [h["code"] for h in search(invoke, "订单班协议", "--signed")["hits"]] == ["2.3.4-1"]


def test_facts_that_cannot_be_read_leave_the_document_indexed(
    invoke, make_framework, monkeypatch, runtime, tmp_path: Path
) -> None:
    def stopped(self, path, file_type):
        raise TimeLimitError(1)

    monkeypatch.setattr(ExtractionSandbox, "inspect_file", stopped)
    path = tmp_path / "2.3.4-1 订单班协议.pdf"
    path.write_bytes(sign_pdf(multi_page_pdf(["订单班协议"]), SCHOOL))
    (doc,) = ingest(invoke, path, framework=make_framework()["framework_id"])["documents"]
    assert doc["status"] == "indexed"
    with runtime.session() as s:
        version = s.get(Document, doc["id"]).current
        assert (version.signature_count, version.signatures, version.file_metadata) == (0, [], {})


def test_catalog_says_who_signed(invoke, signed_set: dict[str, int], tmp_path: Path) -> None:
    out = tmp_path / "package.zip"
    result = invoke("export", "--framework", signed_set["framework"], out)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        sheet = load_workbook(io.BytesIO(zf.read("佐证材料目录.xlsx"))).active
    rows = list(sheet.iter_rows(values_only=True))
    column = rows[0].index("电子签章")
    signed = {r[2] or r[0]: r[column] for r in rows[1:] if r[4] and r[4] != "缺失"}
    assert signed["2.3.4-1"] == f"是（{SCHOOL}）"
    assert signed["2.3.4-2"] == "否"
    assert signed["2.3.4"] == f"是（{TAX_SEAL}）"
