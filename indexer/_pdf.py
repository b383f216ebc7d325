"""PDF pages: the text layer via PDFium, OCR for pages without a usable one; tables via pdfplumber.

pypdfium2 reads the text layer ~25x faster than pdfplumber's ``extract_text`` (bench/extract.py:
99 vs 4 pages/s over the 124 text-layer pages of the corpus, 5-41x per file). On the corpus it
finds the same CJK characters as pdfplumber or more: identical multisets on 22 of the 26 files
with Chinese, 68 vs 69 on ``pymupdf__has-bad-fonts.pdf`` (a duplicated broken glyph), 161 more
on ``mineru__introduction.pdf`` (as poppler's pdftotext) and real Chinese where pdfplumber
reads GBK-encoded fonts as Latin-1 (``pdfjs__XiaoBiaoSong.pdf``, ``pdfjs__issue20489.pdf``).
Pages are opened and closed one at a time, so a 500-page file never sits in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from indexer._ocr import ocr_page
from indexer._text import MIN_TEXT_CHARS, clean_text, text_quality
from indexer._types import EncryptedError, ExtractionError, Page

if TYPE_CHECKING:
    # pypdfium2 has no type information: its class names document what is passed (Any to mypy)
    import numpy as np
    import pypdfium2 as pdfium

log = logging.getLogger(__name__)

#: PDFium is not thread-safe: every call into it, in any thread, holds this lock.
PDFIUM_LOCK = threading.RLock()

#: Share of junk characters (controls, private use, Latin-1 mojibake) that makes a text
#: layer garbage: fonts without a usable ToUnicode map (pdfjs__issue3405r.pdf,
#: mineru__ordinary_textbook_*.pdf measure 0.35-1.0; real text pages stay under 0.02).
MAX_JUNK_SHARE = 0.25
#: Images covering this share of a page make a short text layer suspicious.
MIN_IMAGE_COVER = 0.02
#: A page this covered by images with an invisible text layer is a scan carrying another
#: program's OCR; that layer is often poor (mineru__complex_layout.pdf: spaced-out and
#: made-up characters) and ours measured >= 99 %, so it is read again.
SCAN_IMAGE_COVER = 0.5
#: Longest side in pixels of a page rendered for OCR (= OcrSettings.max_side).
MAX_RENDER_SIDE = 2000
_INVISIBLE = 3  # PDF text render mode 3: neither fill nor stroke
_SAMPLE_CHARS = 24  # characters sampled to decide whether a text layer is invisible


@dataclass(slots=True)
class _PageLook:
    """What a page shows besides its text layer."""

    image_cover: float  # share of the page area covered by images
    drawn: bool  # any image, path or shading object at all


def _open(path: Path) -> pdfium.PdfDocument:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        if e.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            if _has_encrypt_dict(path):
                raise EncryptedError(f"password-protected PDF: {e}") from e
            raise ExtractionError(f"corrupt PDF (password error without encryption): {e}") from e
        raise ExtractionError(f"corrupt PDF: {e}") from e
    try:
        # form fields (filled-in 申请表) only render and flatten with forms initialised
        doc.init_forms()
    except pdfium.PdfiumError:
        log.debug("no form environment for %s", path)
    return doc


def _has_encrypt_dict(path: Path) -> bool:
    """Whether the file names an /Encrypt dictionary anywhere (scanned in 1 MB chunks)."""
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            if b"/Encrypt" in tail + chunk:
                return True
            tail = chunk[-16:]
    return False


def page_count(path: Path) -> int:
    """Number of pages of a PDF (raises like ``extract_pdf_pages``)."""
    with PDFIUM_LOCK:
        doc = _open(Path(path))
        try:
            return len(doc)
        finally:
            doc.close()


def extract_pdf_pages(
    path: Path, *, ocr: bool = True, ocr_dpi: int = 150, max_ocr_pages: int = 200
) -> Iterator[Page]:
    """Every page of a PDF in order; pages without a usable text layer are OCRed."""
    path = Path(path)
    with PDFIUM_LOCK:
        doc = _open(path)
    try:
        with PDFIUM_LOCK:
            count = len(doc)
        if count == 0:
            raise ExtractionError("corrupt PDF: no pages")
        ocr_done = 0
        for index in range(count):
            number = index + 1
            with PDFIUM_LOCK:
                text, image = _read_page(
                    doc, index, number, ocr and ocr_done < max_ocr_pages, ocr_dpi
                )
            if image is None:
                yield Page(number, clean_text(text))
                continue
            ocr_done += 1
            if ocr_done == max_ocr_pages:
                log.info(
                    "%s: OCR limit of %d pages reached at page %d", path, max_ocr_pages, number
                )
            read = ocr_page(image)
            ocr_text = clean_text(read.text)
            if ocr_text.strip():
                yield Page(number, ocr_text, "ocr", read.rotation)
            else:
                yield Page(number, clean_text(text))
    finally:
        with PDFIUM_LOCK:
            doc.close()


def _read_page(
    doc: pdfium.PdfDocument, index: int, number: int, may_ocr: bool, dpi: int
) -> tuple[str, np.ndarray | None]:
    """(text layer, rendered image or None) of one page; the page is closed again."""
    import pypdfium2 as pdfium

    try:
        page = doc[index]
    except pdfium.PdfiumError as e:
        raise ExtractionError(f"corrupt PDF: page {number} cannot be loaded: {e}") from e
    try:
        if _flatten(page):
            # annotations and filled-in form fields became page content: load it again
            page.close()
            page = doc[index]
        textpage = page.get_textpage()
        try:
            text = textpage.get_text_range()
            if not may_ocr:
                return text, None
            need = _needs_ocr(page, textpage, text)
        finally:
            textpage.close()
        if not need:
            return text, None
        # grayscale: a third of the pixels, same accuracy (bench/ocr.py); posters and
        # drawings are capped at the size OCR would scale them down to anyway
        width, height = page.get_size()
        scale = min(dpi / 72, MAX_RENDER_SIDE / max(width, height, 1.0))
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        try:
            image = bitmap.to_numpy().copy()  # the bitmap buffer is freed on close
        finally:
            bitmap.close()
        return text, image
    except pdfium.PdfiumError as e:
        raise ExtractionError(f"corrupt PDF: page {number}: {e}") from e
    finally:
        page.close()


def _flatten(page: pdfium.PdfPage) -> bool:
    """Merge a page's annotations (form field values, stamps) into its content, if any.

    Raw PDFium call: pypdfium2's ``flatten`` insists on a form environment, which documents
    with annotations but no AcroForm do not have.
    """
    import pypdfium2.raw as pdfium_c

    if pdfium_c.FPDFPage_GetAnnotCount(page.raw) <= 0:
        return False
    return bool(
        pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY) == pdfium_c.FLATTEN_SUCCESS
    )


def _needs_ocr(page: pdfium.PdfPage, textpage: pdfium.PdfTextPage, text: str) -> bool:
    """Whether a page lacks a usable text layer and shows something OCR could read."""
    meaningful, junk = text_quality(text)
    if junk >= MAX_JUNK_SHARE:
        return True  # the glyphs on the page are fine, only their Unicode mapping is not
    if meaningful < MIN_TEXT_CHARS:
        look = _look(page)
        return look.image_cover >= MIN_IMAGE_COVER or (meaningful == 0 and look.drawn)
    if _text_is_invisible(textpage):
        return _look(page).image_cover >= SCAN_IMAGE_COVER
    return False


def _text_is_invisible(textpage: pdfium.PdfTextPage) -> bool:
    """Whether the sampled characters of the text layer are all drawn invisibly (OCR layer)."""
    import pypdfium2.raw as pdfium_c

    n = textpage.count_chars()
    if n == 0:
        return False
    step = max(1, n // _SAMPLE_CHARS)
    seen = 0
    for i in range(0, n, step):
        obj = pdfium_c.FPDFText_GetTextObject(textpage.raw, i)
        if not obj:
            continue  # generated characters (line breaks) have no object
        seen += 1
        if pdfium_c.FPDFTextObj_GetTextRenderMode(obj) != _INVISIBLE:
            return False
    return seen > 0


def _look(page: pdfium.PdfPage) -> _PageLook:
    """Image cover and whether anything is drawn, from the page objects (forms included)."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    area = max(width * height, 1.0)
    cover = 0.0
    drawn = False
    for obj in page.get_objects(max_depth=4):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            drawn = True
            left, bottom, right, top = obj.get_bounds()
            w = max(0.0, min(right, width) - max(left, 0.0))
            h = max(0.0, min(top, height) - max(bottom, 0.0))
            cover += w * h / area
        elif obj.type in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING):
            drawn = True
    return _PageLook(min(cover, 1.0), drawn)


def extract_pdf_tables(path: Path) -> Iterator[tuple[int, list[list[str | None]]]]:
    """(page number, rows) for every table pdfplumber finds, page by page."""
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfplumber.utils.exceptions import PdfminerException

    path = Path(path)
    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    try:
        pdf = pdfplumber.open(path)
    except PdfminerException as e:
        cause = e.args[0] if e.args else e
        if isinstance(cause, PDFPasswordIncorrect):
            raise EncryptedError(f"password-protected PDF: {cause!r}") from e
        raise ExtractionError(f"corrupt PDF: {cause}") from e
    with pdf:
        try:
            pages = pdf.pages
        except PdfminerException as e:
            raise ExtractionError(f"corrupt PDF: {e}") from e
        if not pages:
            raise ExtractionError("corrupt PDF: no pages")
        for number, page in enumerate(pages, 1):
            try:
                tables = page.extract_tables()
            except Exception as e:  # pdfminer raises bare errors on broken streams
                raise ExtractionError(f"corrupt PDF: page {number}: {e}") from e
            finally:
                page.close()  # drops the cached layout objects of the page
            for table in tables:
                yield number, table
