"""Extraction from generated files: exact pages for every format and every error path."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from indexer import (
    EncryptedError,
    ExtractionError,
    Page,
    UnsupportedFormatError,
    detect_file_type,
    extract_pages,
    extract_pdf_tables,
    file_type_from_name,
)
from indexer._text import PAGE_CHARS, clean_text, detect_encoding, split_pages, text_quality

ROOT = Path(__file__).resolve().parents[2]


# -- builders ---------------------------------------------------------------------------


def _cid_font() -> str:
    """reportlab's built-in Adobe-GB1 CID font: Chinese text without a font file."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def make_pdf(path: Path, pages: list[list[str]], **canvas_args: object) -> Path:
    """A text PDF with one line per string, 14 pt, 24 pt apart."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _cid_font()
    c = canvas.Canvas(str(path), pagesize=A4, **canvas_args)
    for lines in pages:
        c.setFont(font, 14)
        for i, line in enumerate(lines):
            c.drawString(72, 780 - 24 * i, line)
        c.showPage()
    c.save()
    return path


PDF_PAGES = [
    ["第一页 职业教育产教融合", "校企合作 实训基地建设 2023年"],
    ["第二页 双师型教师队伍", "1+X 证书制度试点"],
]


@pytest.fixture(scope="module")
def text_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "方案.pdf", PDF_PAGES)


# -- file type detection ------------------------------------------------------------------


def test_detect_by_magic_ignores_a_wrong_or_missing_extension(tmp_path: Path, text_pdf: Path):
    blob = tmp_path / "3f9a0c"  # blobs are named by their hash
    blob.write_bytes(text_pdf.read_bytes())
    assert detect_file_type(blob) == "pdf"
    assert detect_file_type(blob, "方案.docx") == "pdf"
    png = tmp_path / "scan.pdf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    assert detect_file_type(png) == "image"
    jpeg = tmp_path / "x"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 32)
    assert detect_file_type(jpeg) == "image"
    tiff = tmp_path / "y"
    tiff.write_bytes(b"II*\x00" + b"\x00" * 32)
    assert detect_file_type(tiff) == "image"


def test_detect_office_packages_by_their_main_part(tmp_path: Path):
    docx_path = make_docx(tmp_path / "a.docx")
    renamed = tmp_path / "a.zip"
    renamed.write_bytes(docx_path.read_bytes())
    assert detect_file_type(docx_path) == "docx"
    assert detect_file_type(renamed) == "docx"
    assert detect_file_type(renamed, "报告.zip") == "docx"
    xlsx_path = make_xlsx(tmp_path / "b.xlsx")
    assert detect_file_type(xlsx_path, "b.zip") == "xlsx"
    other = tmp_path / "c.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("说明.txt", "内容")
    assert detect_file_type(other) == "zip"
    assert detect_file_type(other, "c.docx") == "docx"  # by extension: extraction says why


def test_detect_text_and_unknown(tmp_path: Path):
    gbk = tmp_path / "list"
    gbk.write_bytes("序号,名称\n1,实训基地\n".encode("gbk"))
    assert detect_file_type(gbk) == "text"
    assert detect_file_type(gbk, "名单.csv") == "text"
    html_xls = tmp_path / "export.xls"  # web systems "export to Excel" as an HTML table
    html_xls.write_text("<html><body><table><tr><td>姓名</td></tr></table></body></html>")
    assert detect_file_type(html_xls) == "text"
    utf16 = tmp_path / "u16"
    utf16.write_bytes("姓名\t成绩\n张三\t90\n".encode("utf-16-le"))
    assert detect_file_type(utf16) == "text"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 8)
    assert detect_file_type(junk) == "unknown"
    rtf = tmp_path / "a.doc"
    rtf.write_bytes(b"{\\rtf1\\ansi\\ansicpg936 \\'d6\\'d0}")
    assert detect_file_type(rtf) == "unknown"
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    assert detect_file_type(empty) == "pdf"
    assert detect_file_type(empty, "x.unknownext") == "unknown"


def test_file_type_from_name_is_the_extension_mapping_alone():
    names = ["方案.PDF", "a.docx", "b.xlsm", "c.et", "d.wps", "名单.csv", "scan.JPG", "包.zip"]
    assert [file_type_from_name(n) for n in names] == [
        "pdf",
        "docx",
        "xlsx",
        "xls",
        "doc",
        "text",
        "image",
        "zip",
    ]
    for name in ("README", "a.tar.gz", "x.unknownext", ".pdf", "a.", ""):
        assert file_type_from_name(name) == "unknown", name


def test_blobs_named_by_hash_extract_like_their_files(tmp_path: Path, text_pdf: Path):
    """The app stores files under their SHA-256 without a suffix (openpyxl minds that)."""
    import hashlib

    csv = tmp_path / "名单.csv"
    csv.write_bytes(CSV_TEXT.encode("gbk"))
    files = [
        text_pdf,
        make_docx(tmp_path / "方案.docx"),
        make_xlsx(tmp_path / "课程.xlsx"),
        csv,
    ]
    for original in files:
        data = original.read_bytes()
        blob = tmp_path / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(exist_ok=True)
        blob.write_bytes(data)
        file_type = detect_file_type(blob, original.name)
        assert file_type == detect_file_type(original)
        assert list(extract_pages(blob, file_type)) == list(extract_pages(original)), original


# -- PDF ----------------------------------------------------------------------------------


def test_pdf_text_layer_pages(text_pdf: Path):
    assert list(extract_pages(text_pdf)) == [
        Page(1, "第一页 职业教育产教融合\n校企合作 实训基地建设 2023年", "text"),
        Page(2, "第二页 双师型教师队伍\n1+X 证书制度试点", "text"),
    ]


def test_extract_pages_is_a_lazy_generator(text_pdf: Path):
    pages = extract_pages(text_pdf, "pdf")
    assert next(pages) == Page(1, "第一页 职业教育产教融合\n校企合作 实训基地建设 2023年")
    pages.close()  # closes the PDF


def test_encrypted_pdf(tmp_path: Path):
    path = make_pdf(tmp_path / "加密.pdf", [["加密文件"]], encrypt="secret")
    with pytest.raises(EncryptedError, match="password-protected PDF"):
        list(extract_pages(path))
    with pytest.raises(EncryptedError, match="password-protected PDF"):
        list(extract_pdf_tables(path))


def test_truncated_and_empty_pdf(tmp_path: Path, text_pdf: Path):
    data = text_pdf.read_bytes()
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="corrupt PDF: Failed to load document") as e:
        list(extract_pages(truncated))
    assert e.value.__cause__ is not None  # the PDFium error is chained
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(ExtractionError, match=r"empty file \(0 bytes\)"):
        list(extract_pages(empty))
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    with pytest.raises(ExtractionError, match="corrupt PDF"):
        list(extract_pages(junk))


def test_pdf_form_field_values_are_extracted(tmp_path: Path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "form.pdf"
    c = canvas.Canvas(str(path))
    c.drawString(72, 780, "Applicant:")
    c.acroForm.textfield(name="applicant", value="Zhang San 2024", x=150, y=770, width=200)
    c.showPage()
    c.save()
    (page,) = extract_pages(path)
    assert page.text.split("\n") == ["Applicant:", "Zhang San 2024"]


def test_pdf_tables(tmp_path: Path):
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    font = _cid_font()
    rows = [["指标", "佐证材料", "分值"], ["1.1", "人才培养方案", "10"], ["1.2", "课程标准", "5"]]
    path = tmp_path / "table.pdf"
    table = Table(rows)
    table.setStyle(
        TableStyle([("FONT", (0, 0), (-1, -1), font, 12), ("GRID", (0, 0), (-1, -1), 1, "black")])
    )
    SimpleDocTemplate(str(path), pagesize=A4).build([table])
    assert list(extract_pdf_tables(path)) == [(1, rows)]


def test_pdf_threads_share_pdfium_safely(tmp_path: Path, text_pdf: Path):
    other = make_pdf(tmp_path / "b.pdf", [[f"第{i}页"] for i in range(1, 21)])
    results: dict[str, list[Page]] = {}

    def run(name: str, path: Path) -> None:
        results[name] = list(extract_pages(path))

    threads = [
        threading.Thread(target=run, args=(f"{n}-{i}", p))
        for i in range(3)
        for n, p in (("a", text_pdf), ("b", other))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(3):
        assert [p.text for p in results[f"a-{i}"]] == [
            "第一页 职业教育产教融合\n校企合作 实训基地建设 2023年",
            "第二页 双师型教师队伍\n1+X 证书制度试点",
        ]
        assert [p.text for p in results[f"b-{i}"]] == [f"第{i}页" for i in range(1, 21)]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_500_page_pdf_streams_in_bounded_memory(tmp_path: Path):
    from reportlab.pdfgen import canvas

    font = _cid_font()
    path = tmp_path / "big.pdf"
    c = canvas.Canvas(str(path))
    for n in range(1, 501):
        c.setFont(font, 10)
        for i in range(20):
            c.drawString(40, 800 - i * 15, f"第{n}页第{i}行 职业教育产教融合校企合作实训基地建设")
        c.showPage()
    c.save()
    # A fresh interpreter, and VmHWM (the peak RSS of this process image): ru_maxrss would
    # include the forked pytest process it was started from.
    script = (
        "import re, sys\n"
        "from indexer import extract_pages\n"
        "n = chars = 0\n"
        "for page in extract_pages(sys.argv[1]):\n"
        "    n += 1; chars += len(page.text)\n"
        "status = open('/proc/self/status').read()\n"
        "print(n, chars, int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    ).stdout.split()
    pages, chars, peak_mb = map(int, out)
    assert pages == 500
    assert chars == sum(
        len(f"第{n}页第{i}行 职业教育产教融合校企合作实训基地建设") + (i > 0)
        for n in range(1, 501)
        for i in range(20)
    )
    assert peak_mb < 200, f"peak RSS {peak_mb} MB"


# -- DOCX ---------------------------------------------------------------------------------


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_heading("人才培养方案", level=1)
    d.add_paragraph("一、培养目标")
    t = d.add_table(rows=3, cols=3)
    for (r, c), text in {
        (0, 0): "序号",
        (0, 1): "课程",
        (0, 2): "学时",
        (1, 0): "1",
        (1, 1): "机械制图",
        (1, 2): "64",
        (2, 0): "2",
    }.items():
        t.cell(r, c).text = text
    t.cell(1, 2).merge(t.cell(2, 2))  # vertical merge: "64" once
    inner = t.cell(2, 1).add_table(rows=1, cols=2)  # nested table
    inner.cell(0, 0).text = "理论"
    inner.cell(0, 1).text = "实践"
    t2 = d.add_table(rows=1, cols=3)
    t2.cell(0, 0).merge(t2.cell(0, 1)).text = "合并单元格"  # horizontal merge
    t2.cell(0, 2).text = "尾"
    p = d.add_paragraph("二、")
    p.add_run("毕业要求").bold = True
    p.add_run("\t说明")
    d.sections[0].header.paragraphs[0].text = "页眉"
    d.save(str(path))
    return path


def test_docx_body_order_tables_merged_and_nested(tmp_path: Path):
    path = make_docx(tmp_path / "方案.docx")
    assert list(extract_pages(path)) == [
        Page(
            1,
            "人才培养方案\n一、培养目标\n序号\t课程\t学时\n1\t机械制图\t64\n2\n理论\t实践\n"
            "合并单元格\t尾\n二、毕业要求\t说明",
        )
    ]


def test_docx_tracked_changes_fields_content_controls_and_text_boxes(tmp_path: Path):
    import docx
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    w_mc = f'{nsdecls("w")} xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    d = docx.Document()
    p = d.add_paragraph("保留")
    p._p.append(parse_xml(f"<w:del {nsdecls('w')}><w:r><w:delText>删除</w:delText></w:r></w:del>"))
    p._p.append(parse_xml(f"<w:ins {nsdecls('w')}><w:r><w:t>插入</w:t></w:r></w:ins>"))
    p._p.append(parse_xml(f"<w:moveFrom {nsdecls('w')}><w:r><w:t>移走</w:t></w:r></w:moveFrom>"))
    field = d.add_paragraph()._p
    for xml in (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>',
        '<w:r><w:instrText xml:space="preserve"> PAGEREF _Toc1 \\h </w:instrText></w:r>',
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>',
        "<w:r><w:t>12</w:t></w:r>",
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>',
    ):
        field.append(parse_xml(xml.replace("<w:r>", f"<w:r {nsdecls('w')}>", 1)))
    d.element.body.insert(
        len(d.element.body) - 1,  # before the section properties
        parse_xml(
            f"<w:sdt {nsdecls('w')}><w:sdtPr><w:alias w:val='标题'/></w:sdtPr><w:sdtContent>"
            "<w:p><w:r><w:t>内容控件</w:t></w:r></w:p></w:sdtContent></w:sdt>"
        ),
    )
    box = d.add_paragraph("正文")._p
    box.append(
        parse_xml(
            f"<w:r {w_mc}><mc:AlternateContent><mc:Choice Requires='wps'><w:drawing>"
            "<w:txbxContent><w:p><w:r><w:t>文本框</w:t></w:r></w:p></w:txbxContent>"
            "</w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r>"
            "<w:t>文本框</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback>"
            "</mc:AlternateContent></w:r>"
        )
    )
    path = tmp_path / "修订.docx"
    d.save(str(path))
    assert list(extract_pages(path)) == [Page(1, "保留插入\n12\n内容控件\n正文\n文本框")]


def test_docx_that_is_a_zip_of_junk(tmp_path: Path):
    path = tmp_path / "报告.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("junk.bin", bytes(range(256)))
    assert detect_file_type(path) == "docx"
    with pytest.raises(ExtractionError, match="corrupt DOCX"):
        list(extract_pages(path))
    not_zip = tmp_path / "坏.docx"
    not_zip.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(ExtractionError, match="corrupt DOCX: not a valid ZIP package"):
        list(extract_pages(not_zip, "docx"))


def test_encrypted_docx_and_xlsx(tmp_path: Path):
    pytest.importorskip("msoffcrypto", reason="msoffcrypto-tool (test extra)")
    from msoffcrypto.format.ooxml import OOXMLFile

    for kind, plain in (
        ("docx", make_docx(tmp_path / "p.docx")),
        ("xlsx", make_xlsx(tmp_path / "p.xlsx")),
    ):
        secret = tmp_path / f"加密.{kind}"
        with open(plain, "rb") as src, open(secret, "wb") as dst:
            OOXMLFile(src).encrypt("pw", dst)
        assert secret.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2
        assert detect_file_type(secret) == kind
        with pytest.raises(EncryptedError, match=f"password-protected {kind.upper()}"):
            list(extract_pages(secret))
        blob = tmp_path / f"blob-{kind}"  # no name: still reported as encrypted
        blob.write_bytes(secret.read_bytes())
        with pytest.raises(EncryptedError, match="password-protected Office file"):
            list(extract_pages(blob))


# -- XLSX / XLS ---------------------------------------------------------------------------


def make_xlsx(path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "课程"
    ws.append(["序号", "课程名称", "学分", "开课日期"])
    ws.append([1, "机械制图", 3.5, dt.date(2023, 9, 1)])
    ws.append([])
    ws.append([2, "电工\n基础", 4.0, dt.datetime(2023, 9, 1, 8, 30)])
    ws["F7"] = "备注"
    wb.create_sheet("空表")
    wb.create_sheet("汇总")["B2"] = "合计"
    wb.save(str(path))
    return path


def test_xlsx_sheets_as_pages(tmp_path: Path):
    path = make_xlsx(tmp_path / "课程.xlsx")
    assert list(extract_pages(path)) == [
        Page(
            1,
            "课程\n序号\t课程名称\t学分\t开课日期\n1\t机械制图\t3.5\t2023-09-01\n"
            "2\t电工 基础\t4\t2023-09-01 08:30:00\n\t\t\t\t\t备注",
        ),
        Page(2, "空表"),
        Page(3, "汇总\n\t合计"),
    ]


def _inflated_xlsx(path: Path, empty_rows: int) -> Path:
    """A workbook whose sheet claims A1:C1000000 and holds ``empty_rows`` styled empty rows."""
    import openpyxl

    rows = [
        '<row r="1"><c r="A1" t="inlineStr"><is><t>名称</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>数量</t></is></c></row>',
        '<row r="2"><c r="A2" t="inlineStr"><is><t>实训室</t></is></c><c r="B2"><v>12</v></c>'
        '<c r="XFD2" s="0"/></row>',
    ]
    rows += [f'<row r="{i}"><c r="A{i}" s="0"/></row>' for i in range(3, 3 + empty_rows)]
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="A1:C1000000"/><sheetData>{"".join(rows)}</sheetData></worksheet>'
    )
    base = path.with_suffix(".base.xlsx")
    wb = openpyxl.Workbook()
    wb.active.title = "设备"
    wb.save(str(base))
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            dst.writestr(info.filename, data)
    return path


def test_xlsx_with_inflated_dimension_is_bounded(tmp_path: Path):
    path = _inflated_xlsx(tmp_path / "inflated.xlsx", empty_rows=100_000)
    start = time.perf_counter()
    pages = list(extract_pages(path))
    elapsed = time.perf_counter() - start
    assert pages == [Page(1, "设备\n名称\t数量\n实训室\t12")]
    assert elapsed < 2.0, f"{elapsed:.2f} s"


def test_xlsx_cell_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import openpyxl

    from indexer import _office

    monkeypatch.setattr(_office, "MAX_CELLS", 5)
    path = tmp_path / "many.xlsx"
    wb = openpyxl.Workbook()
    for i in range(4):
        wb.active.append([f"行{i}", i])
    wb.save(str(path))
    assert list(extract_pages(path)) == [Page(1, "Sheet\n行0\t0\n行1\t1")]


def test_corrupt_xlsx(tmp_path: Path):
    path = tmp_path / "坏.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/workbook.xml", "<not really/>")
    with pytest.raises(ExtractionError, match="corrupt XLSX"):
        list(extract_pages(path))


def test_xls_via_xlrd_rejects_junk(tmp_path: Path):
    path = tmp_path / "坏.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert detect_file_type(path) == "xls"
    with pytest.raises(ExtractionError, match="corrupt XLS"):
        list(extract_pages(path))


# -- legacy DOC ---------------------------------------------------------------------------


def test_doc_without_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no catdoc, antiword or soffice
    path = tmp_path / "旧.doc"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(UnsupportedFormatError, match="legacy .doc needs catdoc or LibreOffice"):
        list(extract_pages(path, "doc"))


def test_doc_field_codes_are_dropped():
    from indexer._office import strip_field_codes

    text = (
        'ICS FORMTEXT 27.120.99\n1 范围 PAGEREF _Toc130281565 \\h 11\n TOC \\o "1-3" \\h \\z 目次'
    )
    assert strip_field_codes(text) == "ICS  27.120.99\n1 范围  11\n  目次"


# -- plain text -----------------------------------------------------------------------------

CSV_TEXT = "序号,专业名称,在校生数\n1,智能制造技术,420\n2,工业机器人技术,380\n"


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
        ("gbk", b"", "gb18030"),
        ("gb18030", b"", "gb18030"),
        ("big5", b"", "big5"),
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
        ("utf-16-le", b"", "utf-16-le"),
        ("utf-16-be", b"", "utf-16-be"),
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, prefix: bytes, expected: str):
    text = CSV_TEXT if encoding != "big5" else "序號,專業名稱,在校生數\n1,智慧製造技術,420\n"
    data = prefix + text.encode(encoding)
    path = tmp_path / "名单.csv"
    path.write_bytes(data)
    assert detect_encoding(data) == expected
    assert list(extract_pages(path)) == [Page(1, text.rstrip("\n"))]


def test_gbk_crlf_text_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from indexer import _text

    monkeypatch.setattr(_text, "SAMPLE_BYTES", 64)
    monkeypatch.setattr(_text, "_CHUNK", 7)  # cuts through characters and "\r\n" pairs
    lines = [f"第{i}条 实训基地建设" for i in range(30)]
    path = tmp_path / "制度.txt"
    path.write_bytes("\r\n".join(lines).encode("gbk"))
    assert list(extract_pages(path)) == [Page(1, "\n".join(lines))]


def test_long_text_is_paged_at_line_ends(tmp_path: Path):
    line = "职业院校" * 24 + "。"  # 97 characters
    lines = [f"{i:03d}{line}" for i in range(100)]  # 100 lines of 100 characters
    path = tmp_path / "长文.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    pages = list(extract_pages(path))
    per_page = (PAGE_CHARS + 1) // 101  # 29 lines of 100 + 28 newlines <= 3000
    assert [p.number for p in pages] == [1, 2, 3, 4]
    assert [p.text for p in pages] == [
        "\n".join(lines[i : i + per_page]) for i in range(0, 100, per_page)
    ]


def test_split_pages_cuts_overlong_lines():
    assert list(split_pages(["ab", "cdefgh", "i"], page_chars=4)) == ["ab", "cdef", "gh\ni"]
    assert list(split_pages(["ab", "c", "de"], page_chars=4)) == ["ab\nc", "de"]


def test_binary_file_named_txt(tmp_path: Path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\x00\x01\x02\x03" * 100)
    with pytest.raises(ExtractionError, match="not a text file"):
        list(extract_pages(path, "text"))


def test_clean_text_and_quality():
    assert clean_text("a\r\nb\rc\x00\x02\ue000\ufffd  \n\n") == "a\nb\nc"
    assert text_quality("第一页 abc 12") == (8, 0.0)
    assert text_quality("\x04\x05\x06") == (0, 1.0)
    assert text_quality("ØÓÚºì¾ü") == (0, 1.0)  # 关于红军 in GBK bytes shown as Latin-1


# -- other types ----------------------------------------------------------------------------


def test_zip_unknown_and_empty(tmp_path: Path):
    archive = tmp_path / "材料.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "x")
    with pytest.raises(UnsupportedFormatError, match="ZIP archives"):
        list(extract_pages(archive))
    junk = tmp_path / "x.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UnsupportedFormatError, match="unsupported file type 'unknown'"):
        list(extract_pages(junk))
    empty = tmp_path / "空.docx"
    empty.write_bytes(b"")
    with pytest.raises(ExtractionError, match=r"empty file \(0 bytes\)"):
        list(extract_pages(empty, "docx"))


def test_image_needs_ocr(tmp_path: Path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("L", (20, 20), 255).save(path)
    with pytest.raises(UnsupportedFormatError, match="OCR, which is turned off"):
        list(extract_pages(path, ocr=False))
    broken = tmp_path / "b.png"
    broken.write_bytes(path.read_bytes()[:30])
    with pytest.raises(ExtractionError, match="corrupt image"):
        list(extract_pages(broken))
