"""Extraction on the real corpus (../shared/corpus/real, see its SOURCES.md).

CJK counts are U+3400-U+9FFF and U+F900-U+FAFF, as in SOURCES.md. For PDFs they equal the
pdftotext figures there; for .doc files the catdoc figures.
"""

from __future__ import annotations

import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from indexer import (
    EncryptedError,
    ExtractionError,
    Page,
    detect_file_type,
    extract_pages,
    extract_pdf_tables,
)
from tests.conftest import corpus_file

CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def cjk(pages: list[Page]) -> Counter[str]:
    return Counter(CJK.findall("".join(p.text for p in pages)))


def overlap(a: Counter[str], b: Counter[str]) -> float:
    """Shared characters (multiset) over the larger of the two totals."""
    return sum((a & b).values()) / max(a.total(), b.total(), 1)


# -- PDF text layer ---------------------------------------------------------------------------

# (file, pages, CJK characters) — the CJK figure is pdftotext's in SOURCES.md
TEXT_PDFS = [
    ("fzu__20.福州大学本科生毕业设计（论文）撰写规范.pdf", 27, 7857),
    ("fzu__preview.pdf", 9, 703),
    ("bithesis-doc__doc.pdf", 46, 11052),
    ("bithesis-graduation-thesis__main.pdf", 11, 1494),
    ("bithesis-proposal-report__main.pdf", 4, 672),
    ("bithesis-lab-report__main.pdf", 3, 328),
    ("bithesis__reviewTableBlank.pdf", 1, 183),
    ("bithesis__1_originality.pdf", 1, 324),
    ("pymupdf__chinese-tables.pdf", 1, 448),
    ("pymupdf__test_4182.pdf", 1, 1399),
    ("pymupdf__test_4699.pdf", 1, 281),
    ("pymupdf__test_4546.pdf", 2, 365),
    ("mineru__test_rearch_report.pdf", 4, 3198),
    ("mineru__2list_1table.pdf", 1, 730),
    ("mineru__3list_1table.pdf", 1, 611),
    ("mineru__p3_图文混排84.pdf", 1, 984),
    ("mineru__introduction.pdf", 1, 1761),
    ("pdfjs__issue12823.pdf", 1, 86),
    ("pdfjs__issue2128r.pdf", 1, 20),
    ("pdfjs__issue13316_reduced.pdf", 1, 5),
    ("pdfjs__issue3521.pdf", 1, 7),
    # text layer kept although its fonts draw no Chinese (OCR would only see the digits)
    ("pymupdf__has-bad-fonts.pdf", 1, 68),
    # pdftotext and pdfplumber read GBK bytes as Latin-1 here; PDFium maps them correctly
    ("pdfjs__XiaoBiaoSong.pdf", 1, 207),
    ("pdfjs__issue20489.pdf", 1, 3),
]


@pytest.mark.parametrize(("name", "count", "cjk_chars"), TEXT_PDFS)
def test_text_pdfs_read_every_page_without_ocr(
    corpus_dir: Path, name: str, count: int, cjk_chars: int
):
    pages = list(extract_pages(corpus_file(corpus_dir, name)))  # OCR allowed, not needed
    assert [(p.number, p.source) for p in pages] == [(n, "text") for n in range(1, count + 1)]
    assert cjk(pages).total() == cjk_chars


def test_text_pdf_first_lines(corpus_dir: Path):
    pages = list(extract_pages(corpus_file(corpus_dir, TEXT_PDFS[0][0])))
    assert pages[0].text.split("\n")[:2] == [
        "福州大学本科生毕业设计（论文）撰写规范",
        "（福大教〔2019〕37 号）",
    ]
    (bad_fonts,) = extract_pages(corpus_file(corpus_dir, "pymupdf__has-bad-fonts.pdf"))
    assert bad_fonts.text.split("\n")[:3] == [
        "N/M结汇退税",
        "佛山",
        "佛山市柏年建材有限公司 4 4 0 6 9 6 1 4 8 5 江海 船舶",
    ]
    (toc,) = extract_pages(corpus_file(corpus_dir, "pdfjs__XiaoBiaoSong.pdf"))
    assert toc.text.startswith("目 \u3000 \u3000 录\n关 于 红 军 作 战 的 原 则")


# A few pages of each, so that pdfplumber's slow extract_text stays under a few seconds.
AGREEMENT = [
    ("fzu__20.福州大学本科生毕业设计（论文）撰写规范.pdf", 3),
    ("bithesis-doc__doc.pdf", 3),
    ("bithesis-graduation-thesis__main.pdf", 3),
    ("pymupdf__chinese-tables.pdf", 1),
    ("pymupdf__test_4182.pdf", 1),
    ("pymupdf__test_4546.pdf", 2),
    ("mineru__test_rearch_report.pdf", 2),
    ("mineru__2list_1table.pdf", 1),
    ("mineru__3list_1table.pdf", 1),
    ("mineru__p3_图文混排84.pdf", 1),
    ("pdfjs__issue12823.pdf", 1),
]


def _pdfium_cjk(path: Path, pages: int) -> Counter[str]:
    return cjk([p for p in extract_pages(path, ocr=False) if p.number <= pages])


def _pdfplumber_cjk(path: Path, pages: int) -> Counter[str]:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return Counter(CJK.findall("".join(p.extract_text() or "" for p in pdf.pages[:pages])))


@pytest.mark.parametrize(("name", "pages"), AGREEMENT)
def test_pypdfium2_and_pdfplumber_agree_on_cjk(corpus_dir: Path, name: str, pages: int):
    """Why PDFium: the same characters as pdfplumber (>= 98 %, in fact all), 30-50x faster."""
    path = corpus_file(corpus_dir, name)
    pdfium, plumber = _pdfium_cjk(path, pages), _pdfplumber_cjk(path, pages)
    assert plumber.total() > 0
    assert overlap(pdfium, plumber) >= 0.98


def test_pypdfium2_reads_what_pdfplumber_misses(corpus_dir: Path):
    # mineru__introduction.pdf: pdfplumber drops 161 characters pdftotext and PDFium find
    path = corpus_file(corpus_dir, "mineru__introduction.pdf")
    pdfium, plumber = _pdfium_cjk(path, 1), _pdfplumber_cjk(path, 1)
    assert (pdfium.total(), plumber.total()) == (1761, 1600)
    assert plumber - pdfium == Counter()  # everything pdfplumber finds, PDFium finds too
    path = corpus_file(corpus_dir, "pdfjs__XiaoBiaoSong.pdf")
    assert _pdfplumber_cjk(path, 1).total() == 0  # '¹ØÓÚºì¾ü×÷Õ½...'
    assert _pdfium_cjk(path, 1)["军"] > 0


def test_pdf_tables(corpus_dir: Path):
    tables = list(extract_pdf_tables(corpus_file(corpus_dir, "mineru__3list_1table.pdf")))
    assert tables == [
        (
            1,
            [
                ["职位", "人数", "工作职责"],
                ["工会主席", "1", "全面负责工会工作"],
                ["工会副主席", "1", "主持工会日常工作"],
                ["女工委员", "1", "负责女工委全面工作"],
                ["经审委员", "1", "负责工会经费使用监督审查工作"],
                ["组织委员", "1", "负责工会组织工作"],
                ["文体委员", "1", "负责工会文体活动等工作"],
                ["宣传委员", "1", "负责工会宣传工作"],
            ],
        )
    ]
    tables = list(extract_pdf_tables(corpus_file(corpus_dir, "pymupdf__chinese-tables.pdf")))
    assert [(n, len(rows)) for n, rows in tables] == [(1, 5), (1, 12)]
    assert tables[1][1][1] == ["1", "工商银行", "330,435.30", "234,850.00", "95,585.30"]


# -- PDF edge cases -----------------------------------------------------------------------


def test_password_protected_pdf(corpus_dir: Path):
    with pytest.raises(EncryptedError, match="password-protected PDF"):
        list(extract_pages(corpus_file(corpus_dir, "pdfjs__issue3371.pdf")))


def test_encrypted_pdf_with_empty_user_password_and_form_fields(corpus_dir: Path):
    # AES-256, no user password; the text is the value of a form field (flattened)
    path = corpus_file(corpus_dir, "pdfjs__secHandler.pdf")
    assert list(extract_pages(path)) == [Page(1, "Security Handler", "text")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("pdfjs__REDHAT-1531897-0.pdf", "corrupt PDF: Failed to load document"),
        # PDFium fails without setting an error code, so it reports whatever the previous
        # failure in the process was (a password error after pdfjs__issue3371.pdf): the file
        # has no /Encrypt dictionary, so it is corrupt, never "encrypted"
        ("pdfjs__poppler-395-0-fuzzed.pdf", "corrupt PDF"),
        ("synthetic__empty.pdf", r"empty file \(0 bytes\)"),
    ],
)
def test_corrupt_pdfs(corpus_dir: Path, name: str, message: str):
    with pytest.raises(EncryptedError):  # leaves PDFium's last error at "password"
        list(extract_pages(corpus_file(corpus_dir, "pdfjs__issue3371.pdf")))
    with pytest.raises(ExtractionError, match=message) as e:
        list(extract_pages(corpus_file(corpus_dir, name)))
    assert not isinstance(e.value, EncryptedError)


# -- DOCX -----------------------------------------------------------------------------------

# Every w:t of the document body exactly once (python-docx's own count in SOURCES.md repeats
# merged cells and misses content controls).
DOCX = [
    ("chatchat__核电厂定期安全审查指南 第1部分：通用要求（征求意见稿）.docx", 7509),
    (
        "chatchat__核电厂定期安全审查指南 第6部分：构筑物、系统和部件的实际状态-（征求意见稿）.docx",
        5111,
    ),
    ("chatchat__核电厂定期安全评价 第12部分：设计（征求意见稿20230317）.docx", 4356),
    ("chatchat__行标编制说明（核电厂定期安全审查 第1部分：通用要求）.docx", 2666),
    ("chatchat__行标编制说明（核电厂定期安全评价指南 第7部分：经验反馈）20230324.docx", 2477),
    ("mineru__test.docx", 2546),
    ("mineru__docx_01.docx", 1283),
    ("chatchat__ocr_test.docx", 20),
    ("poitl__payment.docx", 59),
]


@pytest.mark.parametrize(("name", "cjk_chars"), DOCX)
def test_docx_cjk_counts(corpus_dir: Path, name: str, cjk_chars: int):
    path = corpus_file(corpus_dir, name)
    assert detect_file_type(path) == "docx"
    pages = list(extract_pages(path))
    assert [(p.number, p.source) for p in pages] == [(1, "text")]
    assert cjk(pages).total() == cjk_chars


def test_docx_nested_tables_in_order(corpus_dir: Path):
    (page,) = extract_pages(corpus_file(corpus_dir, "poitl__payment.docx"))
    assert page.text.split("\n") == [
        "付款通知书",
        "付款通知书编号: {{NO}} 客户 ID: {{ID}}",
        "抬头:\t收货方:",
        "{{taitou}}\t{{consignee}}",
        "{{#order}}",
        "{{detail_table}}货物明细",
        "数量\t货物\t说明\t折扣\t应纳税\t单价\t总计",
        "人工费",
        "种类\t人数\t单价",
        "{{total}}",
        "小计:\t{{subtotal}}",
        "税额:\t{{tax}}",
        "运输:\t{{transform}}",
        "其他:\t{{other}}",
        "未付余额:\t{{unpay}}",
    ]
    (small,) = extract_pages(corpus_file(corpus_dir, "chatchat__ocr_test.docx"))
    assert small.text == "我是文字\n我是表格1\t我是表格2\n我是表格3\t我是表格4"


# -- legacy DOC -----------------------------------------------------------------------------

DOCS = [
    ("fzu__20.福州大学本科生毕业设计（论文）撰写规范.doc", 7577),
    ("chatchat__核电厂定期安全审查指南 第1部分：通用要求（征求意见稿）.doc", 7187),
    ("chatchat__核电厂定期安全评价指南 第7部分：经验反馈（征求意见稿） 20230324.doc", 3910),
]

needs_catdoc = pytest.mark.skipif(
    shutil.which("catdoc") is None, reason="catdoc not installed (Debian package catdoc)"
)


@needs_catdoc
@pytest.mark.parametrize(("name", "cjk_chars"), DOCS)
def test_legacy_doc_via_catdoc(corpus_dir: Path, name: str, cjk_chars: int):
    path = corpus_file(corpus_dir, name)
    assert detect_file_type(path) == "doc"
    pages = list(extract_pages(path))
    assert [(p.number, p.source) for p in pages] == [(1, "text")]
    assert cjk(pages).total() == cjk_chars
    assert "FORMTEXT" not in pages[0].text and "PAGEREF" not in pages[0].text


@needs_catdoc
def test_legacy_doc_matches_its_pdf_and_docx_twins(corpus_dir: Path):
    fzu_doc = list(extract_pages(corpus_file(corpus_dir, DOCS[0][0])))
    assert fzu_doc[0].text.split("\n")[:2] == [
        "福州大学本科生毕业设计（论文）撰写规范",
        "（福大教〔2019〕37号）",
    ]
    fzu_pdf = list(extract_pages(corpus_file(corpus_dir, TEXT_PDFS[0][0])))
    assert overlap(cjk(fzu_doc), cjk(fzu_pdf)) >= 0.96  # measured 0.964 (WPS vs PDF edition)
    part1_doc = list(extract_pages(corpus_file(corpus_dir, DOCS[1][0])))
    part1_docx = list(extract_pages(corpus_file(corpus_dir, DOCX[0][0])))
    assert overlap(cjk(part1_doc), cjk(part1_docx)) >= 0.95  # measured 0.954


# -- spreadsheets -------------------------------------------------------------------------------

# (file, sheet names, CJK characters): SOURCES.md's cell figures plus the sheet names
SHEETS = [
    ("chatchat__langchain-ChatGLM_closed.xlsx", ["Sheet1"], 4341),
    ("easyexcel__demo.xlsx", ["Sheet1", "Sheet2"], 96),
    ("easyexcel__cellDataDemo.xlsx", ["Sheet1", "Sheet2"], 128),
    ("easyexcel__dataformat.xlsx", ["Sheet1", "Sheet2", "Sheet3"], 81),
    ("easyexcel__t03.xlsx", ["重算文件"], 60 + 4),  # declares A1:XFD2 (16,384 columns)
    ("easyexcel__t04.xlsx", ["工作表1"], 159 + 3),  # declares A1 for 200 rows
    ("easyexcel__t01.xls", ["产品数据"], 365 + 4),
    ("mineru__xlsx_04_inflated.xlsx", ["Sheet1", "Sheet2", "Sheet3", "Sheet4"], 0),
]


@pytest.mark.parametrize(("name", "sheets", "cjk_chars"), SHEETS)
def test_spreadsheets(corpus_dir: Path, name: str, sheets: list[str], cjk_chars: int):
    path = corpus_file(corpus_dir, name)
    start = time.perf_counter()
    pages = list(extract_pages(path))
    assert time.perf_counter() - start < 2.0
    assert [(p.number, p.text.split("\n")[0]) for p in pages] == list(enumerate(sheets, 1))
    assert cjk(pages).total() == cjk_chars


def test_spreadsheet_rows(corpus_dir: Path):
    demo = list(extract_pages(corpus_file(corpus_dir, "easyexcel__demo.xlsx")))
    assert demo[0].text.split("\n")[:3] == [
        "Sheet1",
        "字符串标题\t日期标题\t数字标题",
        "字符串0\t2020-01-01 01:01:01\t1",
    ]
    # the bogus <dimension ref="A1"> would hide all but the first row
    (log,) = extract_pages(corpus_file(corpus_dir, "easyexcel__t04.xlsx"))
    assert len(log.text.split("\n")) == 1 + 57  # the name and the 57 non-empty rows
    inflated = list(extract_pages(corpus_file(corpus_dir, "mineru__xlsx_04_inflated.xlsx")))
    assert inflated[0].text.split("\n")[:3] == ["Sheet1", "first\tsecond\tthird", "1\t5\t9"]


# -- plain text -----------------------------------------------------------------------------


def test_gbk_and_big5_files_decode_to_the_same_text(corpus_dir: Path):
    gbk = list(extract_pages(corpus_file(corpus_dir, "chardet-GB2312___ude_1.txt")))
    big5 = list(extract_pages(corpus_file(corpus_dir, "chardet-Big5___ude_1.txt")))
    assert gbk == big5
    assert cjk(gbk).total() == 289
    assert gbk[0].text.startswith("維基大典（Wikipedia）者，網路為礎；集天下知、四海言、眾人志")


def test_gb2312_xml_is_paged(corpus_dir: Path):
    pages = list(extract_pages(corpus_file(corpus_dir, "chardet-GB2312__cnblog.org.xml")))
    assert [p.number for p in pages] == list(range(1, 9))
    assert all(len(p.text) <= 3000 for p in pages)
    assert pages[0].text.split("\n")[0] == '<?xml version="1.0" encoding="gb2312"?>'
    assert cjk(pages).total() == 6754


# -- file types ------------------------------------------------------------------------------

_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".doc": "doc",
    ".xlsx": "xlsx",
    ".xls": "xls",
    ".txt": "text",
    ".xml": "text",
    ".md": "text",
    ".jpg": "image",
}


def test_detect_every_corpus_file(corpus_dir: Path):
    found = {}
    for path in sorted(corpus_dir.iterdir()):
        expected = _BY_SUFFIX[path.suffix]
        if path.name == "synthetic__empty.pdf":
            expected = "pdf"  # no bytes: the name decides
        found[path.name] = (detect_file_type(path, "blob"), detect_file_type(path))
        if path.stat().st_size:
            assert found[path.name] == (expected, expected), path.name
    assert len(found) >= 60


def test_legacy_formats_as_hash_named_blobs(corpus_dir: Path, tmp_path: Path):
    """xlrd and the .doc converters get suffix-less paths from the blob store too."""
    names = ["easyexcel__t01.xls"]
    if shutil.which("catdoc"):
        names.append(DOCS[0][0])
    for name in names:
        original = corpus_file(corpus_dir, name)
        blob = tmp_path / f"blob{len(name)}"
        blob.write_bytes(original.read_bytes())
        assert detect_file_type(blob) == detect_file_type(original)
        assert list(extract_pages(blob)) == list(extract_pages(original))
