"""Presentations: PPTX (python-pptx, a page per slide), legacy .ppt and WPS .dps (catppt)."""

from __future__ import annotations

import shutil
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import olefile

from indexer._office import MAX_DOCX_XML_BYTES, _check_ooxml, _run
from indexer._text import clean_text
from indexer._types import EncryptedError, ExtractionError, Page, UnsupportedFormatError

#: XML a PPTX may unpack to in all: python-pptx parses every part into an lxml tree, as
#: python-docx does, so the DOCX budget holds for the same reason
MAX_PPTX_XML_BYTES = MAX_DOCX_XML_BYTES

_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_A_P, _A_T, _A_BR, _A_FLD, _A_TBL, _A_TR, _A_TC = (
    f"{_A}p",
    f"{_A}t",
    f"{_A}br",
    f"{_A}fld",
    f"{_A}tbl",
    f"{_A}tr",
    f"{_A}tc",
)
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def extract_pptx_pages(path: Path) -> Iterator[Page]:
    """Each slide as a page (number = position in the show): the text of its shapes, tables
    and grouped shapes in drawing order, then its speaker notes. No slides: no pages."""
    import pptx
    from pptx.exc import PackageNotFoundError

    _check_ooxml(path, "PPTX", MAX_PPTX_XML_BYTES)
    try:
        # a file object: python-pptx wants a .pptx name, and blobs are named by their hash
        with open(path, "rb") as f:
            presentation = pptx.Presentation(f)
        slides = list(presentation.slides)
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ExtractionError(f"corrupt PPTX: {e}") from e
    except Exception as e:  # lxml XMLSyntaxError and friends from broken parts
        raise ExtractionError(f"corrupt PPTX: {type(e).__name__}: {e}") from e
    for number, slide in enumerate(slides, 1):
        try:
            lines: list[str] = []
            _drawing_lines(slide.shapes._spTree, lines)
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                if notes is not None:
                    _drawing_lines(notes._txBody, lines)
        except Exception as e:  # a broken slide or notes part, parsed on first use
            raise ExtractionError(f"corrupt PPTX: slide {number}: {type(e).__name__}: {e}") from e
        yield Page(number, clean_text("\n".join(lines)))


def _drawing_lines(parent: Any, out: list[str]) -> None:
    """Paragraphs under ``parent`` as lines, a table as one tab-separated line per row;
    shapes nested in groups and graphic frames are walked in document order."""
    for child in parent:
        tag = child.tag
        if tag == _A_P:
            text = _paragraph_text(child)
            if text.strip():
                out.append(text)
        elif tag == _A_TBL:
            for tr in child.iter(_A_TR):
                cells = []
                for tc in tr.iter(_A_TC):
                    if tc.get("hMerge") or tc.get("vMerge"):
                        cells.append("")  # covered by a merged cell: its text is elsewhere
                        continue
                    sub: list[str] = []
                    _drawing_lines(tc, sub)
                    cells.append(" ".join(" ".join(s.split()) for s in sub))
                while cells and not cells[-1]:
                    cells.pop()
                if any(cells):
                    out.append("\t".join(cells))
        elif tag != _MC_FALLBACK and isinstance(tag, str):  # not comments and PIs
            _drawing_lines(child, out)


def _paragraph_text(p: Any) -> str:
    parts: list[str] = []
    for el in p.iter(_A_T, _A_BR):
        parts.append("\n" if el.tag == _A_BR else (el.text or ""))
    return "".join(parts)


# -- legacy PPT / WPS DPS ------------------------------------------------------------------


def extract_ppt_pages(path: Path) -> Iterator[Page]:
    """A legacy PowerPoint .ppt (or WPS .dps, the same format) as one page through catppt.

    catppt's slide breaks do not follow the slides (the master and each slide's outline
    come out as further "slides", repeating the slides' text), so the text is one page
    with each line once."""
    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    if shutil.which("catppt") is None:
        raise UnsupportedFormatError("legacy .ppt needs catdoc's catppt installed")
    _check_ppt(path)
    text = _run(["catppt", "-d", "utf-8", str(path)], kind="PPT")
    lines = dict.fromkeys(line.strip() for line in text.replace("\f", "\n").split("\n"))
    yield Page(1, clean_text("\n".join(line for line in lines if line)))


def _check_ppt(path: Path) -> None:
    """Refuse encrypted, non-OLE2 and truncated files before catppt, which prints what it
    can of them and exits 0."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptedSummary"):  # PowerPoint's RC4 CryptoAPI encryption
                raise EncryptedError("password-protected PPT")
            if not ole.exists("PowerPoint Document"):
                raise ExtractionError("corrupt PPT: no PowerPoint Document stream")
            declared = ole.get_size("PowerPoint Document")
            with ole.openstream("PowerPoint Document") as stream:
                got = len(stream.read())
    except ExtractionError:
        raise
    except (OSError, ValueError, IndexError, struct.error) as e:  # olefile's parse errors
        raise ExtractionError(f"corrupt PPT: {type(e).__name__}: {e}") from e
    if got < declared:
        raise ExtractionError(
            f"corrupt PPT: truncated (PowerPoint Document stream {got} of {declared} bytes)"
        )
