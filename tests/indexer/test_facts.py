"""Signatures and metadata of PDF and OFD files (``inspect_file``): real signed files (a PDF
signed here with a real CMS signature, OFD seals from ofdrw's test files), unsigned and
broken files, and the sandbox's child reading the same facts."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from indexer import ExtractionSandbox, FileFacts, inspect_file
from indexer._sandbox import stop_child
from tests._signed_pdf import sign_pdf
from tests.factories import multi_page_pdf

OFD = Path(__file__).resolve().parents[1] / "fixtures" / "ofd"
SCHOOL = "某某职业技术学院"
TAX_SEAL = "全国统一发票监制章国家税务总局重庆市税务局"


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return multi_page_pdf(["人才培养方案", "第二页"])


def test_signed_pdf_names_its_signer(tmp_path: Path, plain_pdf: bytes) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(sign_pdf(plain_pdf, SCHOOL))
    facts = inspect_file(path, "pdf")
    assert facts.signature_count == 1
    assert facts.signatures == [
        {
            "kind": "pdf",
            "signer": SCHOOL,
            "time": "2025-03-01 09:30:00",
            "method": "adbe.pkcs7.detached",
        }
    ]
    # ReportLab's placeholders ("untitled", "anonymous") are no metadata
    assert "title" not in facts.metadata and "author" not in facts.metadata
    assert facts.metadata["producer"].startswith("ReportLab")
    assert facts.metadata["created"][:4].isdigit()


def test_a_signed_pdf_from_the_wild(corpus_dir: Path) -> None:
    """pdf.js's copy of a poppler test file, signed by "Phil Smith" (adbe.pkcs7.sha1, with a
    reason and a location), its xref fuzzed: the signature is still found."""
    facts = inspect_file(corpus_dir / "pdfjs__poppler-395-0-fuzzed.pdf", "pdf")
    assert facts.signatures == [
        {
            "kind": "pdf",
            "signer": "Phil Smith",
            "time": "2014-07-24 22:37:56",
            "method": "adbe.pkcs7.sha1",
            "reason": "Signed",
            "location": "Quincy, MA, USA",
        }
    ]


def test_two_signatures_are_counted(tmp_path: Path, plain_pdf: bytes) -> None:
    path = tmp_path / "twice.pdf"
    path.write_bytes(sign_pdf(sign_pdf(plain_pdf, SCHOOL), "张三", field_name="Signature2"))
    facts = inspect_file(path, "pdf")
    assert facts.signature_count == 2
    assert [s["signer"] for s in facts.signatures] == [SCHOOL, "张三"]


def test_unsigned_pdf_has_no_signatures(tmp_path: Path, plain_pdf: bytes) -> None:
    path = tmp_path / "plain.pdf"
    path.write_bytes(plain_pdf)
    facts = inspect_file(path, "pdf")
    assert facts.signature_count == 0 and facts.signatures == []


def test_pdf_metadata_title_author_and_date(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_metadata(
        {
            "/Title": "2024年度质量报告",
            "/Author": "教务处",
            "/CreationDate": "D:20240315080910+08'00'",
        }
    )
    path = tmp_path / "meta.pdf"
    with path.open("wb") as f:
        writer.write(f)
    facts = inspect_file(path, "pdf")
    assert facts.metadata == {
        "title": "2024年度质量报告",
        "author": "教务处",
        "created": "2024-03-15 08:09:10",
        "producer": "pypdf",
    }
    assert facts.signature_count == 0


@pytest.mark.parametrize(
    ("name", "seal", "signer", "time"),
    [
        ("ofdrw__invoice_sample.ofd", "测试" + TAX_SEAL, TAX_SEAL, "2020-10-10 15:11:20"),
        ("ofdrw__invoice_5_pages.ofd", "测试" + TAX_SEAL, TAX_SEAL, "2020-08-17 11:13:29 UTC"),
        ("ofdrw__sesv4_seal.ofd", "OFD R&W 测试用印章", "Test Certificate", "2026-08-04 10:08:09"),
    ],
)
def test_ofd_seal(name: str, seal: str, signer: str, time: str) -> None:
    facts = inspect_file(OFD / name, "ofd")
    assert facts.signature_count == 1
    (signature,) = facts.signatures
    assert signature["kind"] == "ofd" and signature["type"] == "seal"
    assert (signature["seal"], signature["signer"], signature["time"]) == (seal, signer, time)
    assert signature["method"] == "SM2-SM3"


def test_ofd_digital_signature_without_certificate() -> None:
    facts = inspect_file(OFD / "ofdrw__digital_sign.ofd", "ofd")
    assert facts.signature_count == 1
    assert facts.signatures == [
        {
            "kind": "ofd",
            "type": "sign",
            "provider": "ofdrw-sign",
            "method": "SM2-SM3",
            "time": "2020-04-22 16:22:44",
        }
    ]


def test_ofd_metadata_and_invoice_fields() -> None:
    meta = inspect_file(OFD / "ofdrw__invoice_5_pages.ofd", "ofd").metadata
    assert meta["doc_id"] == "050001700111_12235358"
    assert meta["author"] == "Huhuang Software"
    assert meta["created"] == "2020-08-17"
    assert (meta["invoice_number"], meta["invoice_date"], meta["invoice_amount"]) == (
        "12235358",
        "2020-08-05",
        "10600.00",
    )
    assert meta["invoice_seller"] == "财天下科技有限公司"


def _rewrite(source: Path, target: Path, replace: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = replace.get(info.filename, src.read(info.filename))
            if data is not None:
                dst.writestr(info.filename, data)
    return target


def test_broken_signature_parts_give_what_can_be_read(tmp_path: Path) -> None:
    source = OFD / "ofdrw__invoice_sample.ofd"
    # the signed value is garbage: the signature is still counted, without a signer
    garbage = _rewrite(
        source, tmp_path / "garbage.ofd", {"Doc_0/Signs/Sign_0/SignedValue.dat": b"\x30\x82\xff"}
    )
    facts = inspect_file(garbage, "ofd")
    assert facts.signature_count == 1 and "signer" not in facts.signatures[0]
    # Signature.xml is missing, Signatures.xml is not XML: no crash, and the metadata stays
    missing = _rewrite(source, tmp_path / "missing.ofd", {"Doc_0/Signs/Sign_0/Signature.xml": None})
    assert inspect_file(missing, "ofd").signatures == [{"kind": "ofd", "type": "seal"}]
    broken = _rewrite(source, tmp_path / "broken.ofd", {"Doc_0/Signs/Signatures.xml": b"<a"})
    facts = inspect_file(broken, "ofd")
    assert facts.signature_count == 0 and facts.metadata["invoice_number"] == "99999951"


def test_a_damaged_signed_value_costs_only_the_signer(tmp_path: Path) -> None:
    path = _rewrite(OFD / "ofdrw__invoice_sample.ofd", tmp_path / "crc.ofd", {})
    member = "Doc_0/Signs/Sign_0/SignedValue.dat"
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(path.read_bytes())
    data[start + 100] ^= 0xFF  # the member fails its CRC check
    path.write_bytes(bytes(data))
    facts = inspect_file(path, "ofd")
    assert facts.signature_count == 1 and "signer" not in facts.signatures[0]
    assert facts.signatures[0]["time"] == "2020-10-10 15:11:20"
    assert facts.metadata["invoice_number"] == "99999951"


@pytest.mark.parametrize("file_type", ["pdf", "ofd"])
def test_corrupt_files_give_empty_facts(tmp_path: Path, file_type: str) -> None:
    source = OFD / "ofdrw__invoice_sample.ofd"
    for name, data in {
        "empty": b"",
        "cut": source.read_bytes()[:3000],
        "noise": b"%PDF-1.7\n" + bytes(range(256)) * 20,
    }.items():
        path = tmp_path / f"{name}.{file_type}"
        path.write_bytes(data)
        assert inspect_file(path, file_type) == FileFacts(), name


def test_other_types_have_no_facts(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("你好")
    assert inspect_file(path, "txt") == FileFacts()


def test_facts_are_read_in_the_sandbox(tmp_path: Path, plain_pdf: bytes) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(sign_pdf(plain_pdf, SCHOOL))
    ofd = shutil.copy(OFD / "ofdrw__invoice_sample.ofd", tmp_path / "i.ofd")
    sandbox = ExtractionSandbox(memory_mb=1024, timeout=60)
    try:
        assert sandbox.inspect_file(path, "pdf") == inspect_file(path, "pdf")
        assert sandbox.inspect_file(ofd, "ofd").signatures[0]["signer"] == TAX_SEAL
    finally:
        stop_child()
