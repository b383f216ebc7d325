"""Office files: DOCX (python-docx), XLSX (openpyxl), XLS (xlrd), legacy DOC (catdoc & co)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from indexer._ocr import ocr_image
from indexer._text import MIN_TEXT_CHARS, clean_text, text_quality
from indexer._types import EncryptedError, ExtractionError, Page, UnsupportedFormatError

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument
    from xlrd.book import Book
    from xlrd.sheet import Cell

log = logging.getLogger(__name__)

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: Stop reading a sheet after this many empty rows in a row (styled-but-empty rows make
#: mineru__xlsx_04_inflated.xlsx claim 1,048,496 rows).
MAX_EMPTY_ROWS = 10_000
#: Non-empty cells read per workbook; the rest is left out (logged).
MAX_CELLS = 1_000_000
#: A single part of an OOXML package larger than this when unpacked is refused (zip bomb).
MAX_PART_BYTES = 512 * 1024 * 1024
#: XML a DOCX may unpack to in all: python-docx builds a tree of it (about 50 bytes of
#: memory per byte of XML), so more is a decompression bomb or beyond reading
MAX_DOCX_XML_BYTES = 48 * 1024 * 1024
#: Seconds a legacy .doc converter may run.
CONVERT_TIMEOUT = 120


# -- shared helpers ---------------------------------------------------------------------


def _check_ooxml(path: Path, kind: str, max_xml_bytes: int | None = None) -> None:
    """Refuse encrypted, non-ZIP and zip-bomb files before handing them to a library.

    The declared sizes can be trusted: ``zipfile`` never inflates a part beyond its
    declared size (a part that would is a CRC error)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ExtractionError("empty file (0 bytes)")
    if head == OLE2_MAGIC:
        # Office stores a password-protected DOCX/XLSX as an OLE2 file with an
        # "EncryptedPackage" stream; any other OLE2 file is a legacy .doc/.xls renamed
        if _ole_has_stream(path, "EncryptedPackage"):
            raise EncryptedError(f"password-protected {kind}")
        raise ExtractionError(f"not a {kind} file: it is a legacy Office (OLE2) file")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise ExtractionError(f"corrupt {kind}: not a valid ZIP package: {e}") from e
    for info in infos:
        if info.file_size > MAX_PART_BYTES:
            raise ExtractionError(
                f"{kind} part {info.filename} unpacks to {info.file_size} bytes (limit {MAX_PART_BYTES})"
            )
    if max_xml_bytes is not None:
        xml = sum(i.file_size for i in infos if i.filename.endswith((".xml", ".rels")))
        if xml > max_xml_bytes:
            raise ExtractionError(
                f"{kind} text unpacks to {xml // 1024**2} MB of XML (limit "
                f"{max_xml_bytes // 1024**2} MB): a decompression bomb or too large to read"
            )


def _ole_has_stream(path: Path, name: str) -> bool:
    """Whether an OLE2 file has a directory entry called ``name`` (UTF-16LE scan)."""
    needle = name.encode("utf-16-le")
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def _cell_text(value: object) -> str:
    """A spreadsheet value as text: integral floats without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    # a cell's own line breaks and tabs would break the row/column layout
    return " ".join(str(value).split())


class _SheetWriter:
    """Collects a sheet's rows as tab-separated lines within the workbook's limits."""

    def __init__(self, budget: list[int]) -> None:
        self.lines: list[str] = []
        self.empty_run = 0
        self.budget = budget  # [cells left in the workbook], shared between sheets
        self.truncated = False

    def add(self, values: Iterable[object]) -> bool:
        """Add one row; False when the sheet should stop (empty run or cell budget)."""
        cells = [_cell_text(v) for v in values]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            self.empty_run += 1
            return self.empty_run < MAX_EMPTY_ROWS
        self.empty_run = 0
        filled = sum(1 for c in cells if c)
        if filled > self.budget[0]:
            self.truncated = True
            return False
        self.budget[0] -= filled
        self.lines.append("\t".join(cells))
        return True

    def page(self, number: int, name: str) -> Page:
        return Page(number, clean_text("\n".join([name, *self.lines])))


# -- DOCX -------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_P, _TBL, _TR, _TC, _SDT, _SDT_CONTENT = (
    f"{_W}p",
    f"{_W}tbl",
    f"{_W}tr",
    f"{_W}tc",
    f"{_W}sdt",
    f"{_W}sdtContent",
)
_T, _TAB, _BR, _CR, _TXBX = f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}txbxContent"
_V_MERGE, _TC_PR = f"{_W}vMerge", f"{_W}tcPr"
# wrappers whose children belong to the enclosing block/row/cell level
_WRAPPERS = {_SDT, _SDT_CONTENT, f"{_W}customXml", f"{_W}smartTag"}
# never text: deleted or moved-away runs (tracked changes), field instructions, the
# fallback (VML) copy of a text box, content-control properties
_SKIP = {
    f"{_W}delText",
    f"{_W}instrText",
    f"{_W}del",
    f"{_W}moveFrom",
    f"{_MC}Fallback",
    f"{_W}sdtPr",
}


def extract_docx_pages(
    path: Path, *, ocr: bool = False, max_ocr_pages: int = 200
) -> Iterator[Page]:
    """A DOCX as one page: paragraphs and table rows in body order.

    With ``ocr``, a document with (almost) no text but pictures (scans pasted into Word)
    has its pictures read by OCR, in body order; the page's source is then "ocr".
    """
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_ooxml(path, "DOCX", MAX_DOCX_XML_BYTES)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ExtractionError(f"corrupt DOCX: {e}") from e
    except Exception as e:  # lxml XMLSyntaxError and friends from broken parts
        raise ExtractionError(f"corrupt DOCX: {type(e).__name__}: {e}") from e
    lines: list[str] = []
    _block_lines(document.element.body, lines)
    text = clean_text("\n".join(lines))
    if ocr and text_quality(text)[0] < MIN_TEXT_CHARS:
        pictures = _pictures_text(document, max_ocr_pages)
        if pictures:
            yield Page(1, clean_text("\n".join(filter(None, [text, *pictures]))), "ocr")
            return
    yield Page(1, text)


_BLIP = "{http://schemas.openxmlformats.org/drawingml/2006/main}blip"
_R_EMBED = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}embed"
_MIN_PICTURE_SIDE = 64  # smaller pictures are icons and bullets


def _pictures_text(document: DocxDocument, limit: int) -> list[str]:
    """OCR text of the body's pictures in order (at most ``limit`` pictures)."""
    from PIL import Image, UnidentifiedImageError

    texts: list[str] = []
    seen: set[str] = set()
    parts = document.part.related_parts
    for blip in document.element.body.iter(_BLIP):
        rid = blip.get(_R_EMBED)
        if not rid or rid in seen or rid not in parts or len(texts) >= limit:
            continue
        seen.add(rid)
        try:
            with Image.open(io.BytesIO(parts[rid].blob)) as image:
                if min(image.size) < _MIN_PICTURE_SIDE:
                    continue
                found = clean_text(ocr_image(image.convert("RGB")))
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            continue  # EMF/WMF drawings and broken pictures: nothing to read
        texts.append(found)
    return [t for t in texts if t]


def _block_lines(parent: Any, out: list[str]) -> None:
    """Lines of the paragraphs and tables under ``parent`` (body, cell, text box)."""
    for child in parent:
        tag = child.tag
        if tag == _P:
            boxes: list[str] = []
            text = _paragraph_text(child, boxes)
            if text.strip():
                out.append(text)
            out.extend(boxes)
        elif tag == _TBL:
            _table_lines(child, out)
        elif tag in _WRAPPERS:
            _block_lines(child, out)


def _paragraph_text(p: Any, boxes: list[str]) -> str:
    """A paragraph's text; text boxes anchored in it go to ``boxes`` as their own lines."""
    parts: list[str] = []

    def walk(el: Any) -> None:
        for child in el:
            tag = child.tag
            if tag == _T:
                parts.append(child.text or "")
            elif tag == _TAB:
                parts.append("\t")
            elif tag in (_BR, _CR):
                parts.append("\n")
            elif tag == _TXBX:
                _block_lines(child, boxes)
            elif tag not in _SKIP:
                walk(child)

    walk(p)
    return "".join(parts)


def _children(el: Any, tag: str) -> Iterator[Any]:
    """Children with ``tag``, looking through content-control and custom-XML wrappers."""
    for child in el:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _children(child, tag)


def _table_lines(tbl: Any, out: list[str]) -> None:
    """One tab-separated line per row; a vertically merged cell only in its first row."""
    for tr in _children(tbl, _TR):
        cells: list[str] = []
        nested: list[str] = []
        for tc in _children(tr, _TC):
            tc_pr = tc.find(_TC_PR)
            merge = tc_pr.find(_V_MERGE) if tc_pr is not None else None
            if merge is not None and merge.get(f"{_W}val") != "restart":
                cells.append("")  # continuation of the cell above: already emitted
                continue
            parts: list[str] = []
            for child in tc:
                if child.tag == _TBL:
                    _table_lines(child, nested)
                else:
                    sub: list[str] = []
                    _block_lines([child], sub)
                    parts.extend(s for s in sub if s.strip())
            cells.append(" ".join(" ".join(s.split()) for s in parts))
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            out.append("\t".join(cells))
        out.extend(nested)


# -- XLSX -------------------------------------------------------------------------------


def extract_xlsx_pages(path: Path) -> Iterator[Page]:
    """Each worksheet as a page (number = tab position): its name, then its rows."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _check_ooxml(path, "XLSX")
    # a file object, not the path: openpyxl refuses paths without an .xlsx suffix, and
    # stored blobs are named by their hash
    handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, zipfile.BadZipFile) as e:
        handle.close()
        raise ExtractionError(f"corrupt XLSX: {e}") from e
    except Exception as e:  # lxml/ElementTree parse errors from broken parts
        handle.close()
        raise ExtractionError(f"corrupt XLSX: {type(e).__name__}: {e}") from e
    budget = [MAX_CELLS]
    try:
        for number, name in enumerate(workbook.sheetnames, 1):
            sheet = workbook[name]
            if not hasattr(sheet, "iter_rows"):  # a chart sheet
                yield Page(number, clean_text(name))
                continue
            # the stored <dimension> is often wrong (too small, or the whole grid): ignore it
            sheet.reset_dimensions()
            writer = _SheetWriter(budget)
            try:
                for row in sheet.iter_rows(values_only=True):
                    if not writer.add(row):
                        break
            except Exception as e:  # broken sheet XML
                raise ExtractionError(f"corrupt XLSX: sheet {name!r}: {e}") from e
            if writer.truncated:
                log.info("%s: cell limit %d reached in sheet %r", path, MAX_CELLS, name)
            yield writer.page(number, name)
    finally:
        workbook.close()
        handle.close()


# -- XLS --------------------------------------------------------------------------------


def extract_xls_pages(path: Path) -> Iterator[Page]:
    """A legacy BIFF .xls via xlrd: each sheet a page, as for XLSX."""
    try:
        import xlrd
        from xlrd.biffh import XLRDError
    except ImportError as e:  # pragma: no cover - xlrd is a dependency
        raise UnsupportedFormatError("legacy .xls needs the xlrd package") from e

    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    quiet = io.StringIO()  # xlrd writes warnings to stdout otherwise
    try:
        book = xlrd.open_workbook(str(path), on_demand=True, logfile=quiet)
    except XLRDError as e:
        if "encrypted" in str(e).lower():
            raise EncryptedError(f"password-protected XLS: {e}") from e
        raise ExtractionError(f"corrupt XLS: {e}") from e
    except Exception as e:  # struct errors, CompDocError on truncated files
        raise ExtractionError(f"corrupt XLS: {type(e).__name__}: {e}") from e
    budget = [MAX_CELLS]
    try:
        for index in range(book.nsheets):
            try:
                sheet = book.sheet_by_index(index)
            except Exception as e:
                raise ExtractionError(f"corrupt XLS: sheet {index + 1}: {e}") from e
            writer = _SheetWriter(budget)
            for r in range(sheet.nrows):
                values = [_xls_value(book, cell) for cell in sheet.row(r)]
                if not writer.add(values):
                    break
            yield writer.page(index + 1, sheet.name)
            book.unload_sheet(index)
    finally:
        book.release_resources()


def _xls_value(book: Book, cell: Cell) -> object:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            # a date cell's value is its serial number, a float
            return xlrd.xldate_as_datetime(cast(float, cell.value), book.datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype in (xlrd.XL_CELL_ERROR, xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    return cell.value


# -- legacy DOC -------------------------------------------------------------------------


def doc_converter() -> str | None:
    """The first legacy .doc converter on PATH: catdoc, antiword or LibreOffice."""
    for name in ("catdoc", "antiword", "soffice", "libreoffice"):
        if shutil.which(name):
            return name
    return None


def extract_doc_pages(path: Path) -> Iterator[Page]:
    """A legacy Word .doc as one page, through catdoc, antiword or LibreOffice."""
    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    tool = doc_converter()
    if tool is None:
        raise UnsupportedFormatError("legacy .doc needs catdoc or LibreOffice installed")
    if tool == "catdoc":
        # -w: one line per paragraph (no re-wrapping), -d utf-8: output charset
        text = _run([tool, "-w", "-d", "utf-8", str(path)])
    elif tool == "antiword":
        text = _run([tool, "-w", "0", "-m", "UTF-8.txt", str(path)])
    else:
        text = _soffice_to_text(tool, path)
    # converters indent and pad with runs of spaces (and leave them where field codes were)
    text = _SPACE_RUN.sub(" ", strip_field_codes(text))
    yield Page(1, clean_text("\n".join(line.strip() for line in text.split("\n"))))


# Word field instructions that catdoc prints along with the text (form fields, TOC page
# references, hyperlinks); seen in the real corpus .doc files.
_FIELD_CODES = re.compile(
    r"\b(?:FORMTEXT|FORMDROPDOWN|FORMCHECKBOX)\b"
    r"|\bPAGEREF\s+_Toc\d+(?:\s+\\[a-z])*"
    r"|\bTOC(?:\s+\\[a-z](?:\s+\"[^\"\n]*\")?)+"
    r"|\bHYPERLINK\s+(?:\\l\s+)?\"[^\"\n]*\""
    r"|\\\*\s*MERGEFORMAT"
)


_SPACE_RUN = re.compile(r"[ \t\u2002\u2003]{2,}")


def strip_field_codes(text: str) -> str:
    """Remove Word field instructions (FORMTEXT, PAGEREF _Toc… \\h, TOC \\o …) from text."""
    return _FIELD_CODES.sub("", text)


def _run(cmd: list[str], kind: str = "DOC") -> str:
    """A converter's standard output; its failure as an ExtractionError about a ``kind`` file."""
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=CONVERT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        raise ExtractionError(f"{cmd[0]} took longer than {CONVERT_TIMEOUT} s") from e
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        if "encrypt" in err.lower() or "password" in err.lower():
            raise EncryptedError(f"password-protected {kind}: {err}")
        raise ExtractionError(f"corrupt {kind} ({cmd[0]} exit {proc.returncode}): {err[:200]}")
    return proc.stdout.decode("utf-8", "replace")


def _soffice_to_text(tool: str, path: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="evidence-doc-") as tmp:
        src = Path(tmp) / "in.doc"
        shutil.copyfile(path, src)
        _run(
            [
                tool,
                f"-env:UserInstallation=file://{tmp}/profile",
                "--headless",
                "--convert-to",
                "txt:Text (encoded):UTF8",
                "--outdir",
                tmp,
                str(src),
            ]
        )
        out = Path(tmp) / "in.txt"
        if not out.exists():
            raise ExtractionError(f"{tool} could not convert the .doc file")
        return out.read_text(encoding="utf-8-sig", errors="replace")
