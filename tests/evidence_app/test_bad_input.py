"""Bad input, end to end: each file gets a clear status or reason, nothing crashes, and a
good file in the same batch is not affected."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from storage import Document


def _pdf(path: Path, text: str | None = "订单班", encrypt: str | None = None) -> Path:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), encrypt=encrypt)
    if text:
        c.setFont("STSong-Light", 14)
        c.drawString(72, 720, text)
    c.showPage()
    c.save()
    return path


def test_bad_input_suite(invoke, make_framework, runtime, tmp_path: Path) -> None:
    fw = make_framework()["framework_id"]
    d = tmp_path / "in"
    d.mkdir()
    good = _pdf(d / "2.3.4-1 正常文件.pdf", "迅达电梯订单班")
    corrupt = d / "2.3.4-2 损坏.pdf"
    corrupt.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage\n")
    truncated = d / "2.3.4-3 截断.pdf"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    _pdf(d / "2.3.4-5 加密.pdf", "机密", encrypt="pw")
    zero = d / "2.3.4-6 零字节.pdf"
    zero.write_bytes(b"")
    junk_docx = d / "2.3.6-1 假文档.docx"
    with zipfile.ZipFile(junk_docx, "w") as z:
        z.writestr("junk.bin", b"\x00\x01" * 500)
    import openpyxl

    big_xlsx = d / "2.3.6-2 百万空行.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("数据")
    ws.append(["订单班", "42"])
    wb.save(big_xlsx)
    # make the sheet claim a million rows, as files exported by some systems do
    with zipfile.ZipFile(big_xlsx) as z:
        parts = {i.filename: z.read(i) for i in z.infolist()}
    sheet = next(n for n in parts if n.startswith("xl/worksheets/"))
    xml = parts[sheet].decode()
    xml = xml.replace("<sheetData>", '<dimension ref="A1:B1000000"/><sheetData>', 1)
    xml = xml.replace(
        "</sheetData>",
        "".join(f'<row r="{r}"/>' for r in range(2, 1_000_001, 997)) + "</sheetData>",
    )
    with zipfile.ZipFile(big_xlsx, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, xml.encode() if name == sheet else data)
    sparse = d / "2.3.6-3 超大文件.pdf"
    with open(sparse, "wb") as f:
        f.truncate(2 * 1024**3)  # 2 GB, sparse: no disk used
    result = invoke("ingest", d, "--framework", fw, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    statuses = {doc["name"]: doc["status"] for doc in report["documents"]}
    assert statuses == {
        "2.3.4-1 正常文件.pdf": "indexed",
        "2.3.4-2 损坏.pdf": "failed",
        "2.3.4-3 截断.pdf": statuses["2.3.4-3 截断.pdf"],
        "2.3.4-5 加密.pdf": "encrypted",
        "2.3.6-1 假文档.docx": "failed",
        "2.3.6-2 百万空行.xlsx": "indexed",
    }
    assert statuses["2.3.4-3 截断.pdf"] in ("failed", "indexed")  # PDFium may repair a cut file
    assert sorted((r["name"], r["reason"]) for r in report["rejected"]) == [
        ("2.3.4-6 零字节.pdf", "文件为空（0 字节）"),
        ("2.3.6-3 超大文件.pdf", "文件超过上传上限（200 MB），未读取"),
    ]
    with runtime.session() as s:
        reasons = {doc.title: doc.status_reason for doc in s.scalars(select(Document))}
        assert s.scalar(select(func.count()).select_from(Document)) == 6
    assert "PDF" in reasons["损坏"] or "损坏" in reasons["损坏"]
    assert reasons["加密"].startswith("文件已加密")
    for title, reason in reasons.items():  # no library English reaches the people (#18)
        assert not re.search(r"[a-z]{3,}", reason.replace("Excel", "").replace("Word", "")), (
            title,
            reason,
        )
    hits = json.loads(invoke("search", "订单班", "--json").output)["hits"]
    assert sorted(h["code"] for h in hits) == ["2.3.4-1", "2.3.6-2"]
    assert invoke("verify").exit_code == 0
