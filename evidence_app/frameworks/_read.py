"""Read a framework table file (DOCX, XLSX, CSV, PDF) into raw rows of cell strings.

Nothing here interprets the table; ``_parse`` finds the header and builds the tree.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from evidence_app.frameworks._errors import FrameworkImportError
from evidence_app.frameworks._header import find_header

MAX_TABLE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 20_000


@dataclass
class RawTable:
    """Rows of cell text as read, plus what the reader noticed."""

    rows: list[list[str]]
    title: str = ""  # text above the table (e.g. 自评打分表（A类规划）)
    join_lines: bool = False  # PDF cells wrap mid-word: join their lines without a separator
    warnings: list[str] = field(default_factory=list)


def read_table(path: Path, name: str | None = None) -> RawTable:
    """Read the first indicator table of the file; the format comes from the content."""
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as e:
        raise FrameworkImportError(f"无法读取文件：{name}") from e
    if size == 0:
        raise FrameworkImportError(f"文件为空：{name}")
    if size > MAX_TABLE_BYTES:
        raise FrameworkImportError(f"文件过大（{size // 1024 // 1024} MB），指标表不应超过 50 MB")
    with open(path, "rb") as f:
        head = f.read(8)
    suffix = Path(name).suffix.lower()
    if head.startswith(b"%PDF"):
        return _read_pdf(path, name)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        # OLE2: either a legacy .doc/.xls or an encrypted OOXML file
        if _is_encrypted_ooxml(path):
            raise FrameworkImportError(f"文件已加密（有打开密码），无法读取：{name}")
        raise FrameworkImportError(
            f"不支持旧版 Office 格式（.doc/.xls）：{name}，请另存为 .docx 或 .xlsx 后导入"
        )
    if head.startswith(b"PK"):
        kind = _ooxml_kind(path, name)
        if kind == "docx":
            return _read_docx(path, name)
        if kind == "xlsx":
            return _read_xlsx(path, name)
        raise FrameworkImportError(f"无法识别的文件（不是 Word 或 Excel 文档）：{name}")
    if suffix in (".docx", ".xlsx", ".pdf", ".doc", ".xls"):
        raise FrameworkImportError(f"文件已损坏或不是 {suffix[1:].upper()} 格式：{name}")
    return _read_csv(path, name)


def _is_encrypted_ooxml(path: Path) -> bool:
    with open(path, "rb") as f:
        data = f.read(64 * 1024)
    return "EncryptionInfo".encode("utf-16-le") in data or b"EncryptedPackage" in data


def _ooxml_kind(path: Path, name: str) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        raise FrameworkImportError(f"文件已损坏（ZIP 结构无效）：{name}") from e
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return ""


# -- DOCX --------------------------------------------------------------------------------


def _read_docx(path: Path, name: str) -> RawTable:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise FrameworkImportError(f"Word 文档已损坏，无法读取：{name}") from e
    except Exception as e:  # lxml errors on broken XML parts
        raise FrameworkImportError(
            f"Word 文档已损坏，无法读取：{name}（{type(e).__name__}）"
        ) from e
    if not document.tables:
        raise FrameworkImportError(f"Word 文档中没有表格：{name}")
    title = next((p.text.strip() for p in document.paragraphs if p.text.strip()), "")
    best: list[list[str]] = []
    for table in document.tables:
        rows = [_docx_row(row) for row in table.rows]
        if len(rows) > len(best):
            best = rows
        if _has_header(rows):
            return RawTable(rows=rows, title=title)
    return RawTable(rows=best, title=title)


def _docx_row(row) -> list[str]:
    # python-docx repeats the text of a horizontally merged cell in each grid column;
    # vertical merges repeat too, which is what carrying merged cells down needs.
    return [_docx_cell_text(cell) for cell in row.cells]


def _docx_cell_text(cell) -> str:
    return "\n".join(p.text for p in cell.paragraphs)


def _has_header(rows: list[list[str]]) -> bool:
    return find_header(rows) is not None


# -- XLSX --------------------------------------------------------------------------------


def _read_xlsx(path: Path, name: str) -> RawTable:
    import openpyxl

    # a file object: openpyxl refuses a path without an .xlsx suffix (uploads are temp files)
    handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    try:
        wb = openpyxl.load_workbook(handle, data_only=True)
    except Exception as e:  # openpyxl raises many kinds on broken files
        handle.close()
        raise FrameworkImportError(
            f"Excel 文件已损坏，无法读取：{name}（{type(e).__name__}）"
        ) from e
    try:
        fallback: RawTable | None = None
        for ws in wb.worksheets:
            rows = _xlsx_rows(ws)
            title = next((c for r in rows[:5] for c in r if c.strip()), "")
            table = RawTable(rows=rows, title=title)
            if _has_header(rows):
                return table
            fallback = fallback or table
        return fallback or RawTable(rows=[])
    finally:
        wb.close()
        handle.close()


def _xlsx_rows(ws) -> list[list[str]]:
    rows: list[list[str]] = []
    empty_run = 0
    for values in ws.iter_rows(values_only=True):
        cells = ["" if v is None else _cell_str(v) for v in values]
        if any(c.strip() for c in cells):
            empty_run = 0
        else:
            empty_run += 1
            if empty_run > 1000:  # a sheet claiming a million empty rows
                break
        rows.append(cells)
        if len(rows) > MAX_ROWS:
            break
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    return rows


def _cell_str(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- CSV ---------------------------------------------------------------------------------


def decode_csv_bytes(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, or GBK/GB18030; else a clear error."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as e:
        raise FrameworkImportError(
            f"无法识别 CSV 文件的编码：{name}（支持 UTF-8 与 GBK），请另存为 UTF-8 后导入"
        ) from e
    if "\x00" in text:
        raise FrameworkImportError(f"无法识别 CSV 文件的编码：{name}（支持 UTF-8 与 GBK）")
    return text


def _read_csv(path: Path, name: str) -> RawTable:
    data = path.read_bytes()
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FrameworkImportError(
            f"无法识别 CSV 文件的编码：{name}（含空字节，可能是无 BOM 的 UTF-16 或二进制文件；"
            "支持 UTF-8 与 GBK）"
        )
    text = decode_csv_bytes(data, name)
    sample = text[:20000]
    delimiter = max(("\t", ",", ";"), key=lambda d: _delimiter_score(sample, d))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [list(r) for _, r in zip(range(MAX_ROWS), reader, strict=False)]
    except csv.Error as e:
        raise FrameworkImportError(f"CSV 文件格式错误：{name}（{e}）") from e
    return RawTable(rows=rows)


def _delimiter_score(sample: str, delimiter: str) -> int:
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    return sum(1 for line in lines if line.count(delimiter) >= 3)


# -- PDF ---------------------------------------------------------------------------------


def _read_pdf(path: Path, name: str) -> RawTable:
    """Tables from each page with pdfplumber; cells keep their wrapped lines."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError

    rows: list[list[str]] = []
    warnings: list[str] = []
    title = ""
    try:
        with pdfplumber.open(str(path)) as pdf:
            for number, page in enumerate(pdf.pages, start=1):
                try:
                    tables = page.extract_tables()
                    if number == 1:
                        title = _first_line(page.extract_text() or "")
                except Exception as e:  # one broken page must not lose the rest
                    warnings.append(f"第 {number} 页无法读取表格（{type(e).__name__}），已跳过")
                    continue
                finally:
                    page.close()
                if not tables:
                    warnings.append(f"第 {number} 页没有找到表格，已跳过")
                    continue
                for table in tables:
                    rows.extend([_pdf_cell(c) for c in row] for row in table)
    except PDFPasswordIncorrect as e:
        raise FrameworkImportError(f"PDF 已加密（有打开密码），无法读取：{name}") from e
    except PDFSyntaxError as e:
        raise FrameworkImportError(f"PDF 文件已损坏，无法读取：{name}") from e
    except FrameworkImportError:
        raise
    except Exception as e:
        if "password" in str(e).lower() or "encrypt" in str(e).lower():
            raise FrameworkImportError(f"PDF 已加密（有打开密码），无法读取：{name}") from e
        raise FrameworkImportError(f"PDF 文件已损坏，无法读取：{name}（{type(e).__name__}）") from e
    return RawTable(rows=rows, title=title, join_lines=True, warnings=warnings)


def _pdf_cell(cell: str | None) -> str:
    return cell or ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


_TAG_RE = re.compile(r"</?p\s*>", re.IGNORECASE)


def clean_cell(text: str, join_lines: bool = False) -> str:
    """Cell text without HTML paragraph tags; PDF-wrapped lines joined back together."""
    text = _TAG_RE.sub("\n", text).replace("\r\n", "\n").replace("\r", "\n")
    if join_lines:
        text = text.replace("\n", "")
    return text.strip()


def iter_nonempty(rows: list[list[str]]) -> Iterator[tuple[int, list[str]]]:
    for i, row in enumerate(rows):
        if any(c.strip() for c in row):
            yield i, row
