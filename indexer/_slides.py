"""Presentations: PPTX (python-pptx, a page per slide), legacy .ppt and WPS .dps (their
binary records, a page per slide; catppt when the records cannot be followed)."""

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


#: the "PowerPoint Document" stream is read whole: a larger one is refused, not parsed
MAX_PPT_STREAM_BYTES = 64 * 1024 * 1024
#: the "Current User" stream holds one small atom (a user name at most 255 bytes long)
MAX_PPT_CURRENT_USER_BYTES = 64 * 1024
#: records looked at in all (headers walked in containers and lists)
MAX_PPT_RECORDS = 1_000_000
#: container nesting followed in a drawing (groups in groups); deeper shapes are skipped
MAX_PPT_DEPTH = 32
#: characters of text kept in all; the rest of the show is left out
MAX_PPT_TEXT_CHARS = 16 * 1024 * 1024
#: saves followed back through the UserEditAtom chain
MAX_PPT_EDITS = 10_000

# [MS-PPT] record types
_RT_DOCUMENT = 0x03E8
_RT_SLIDE = 0x03EE
_RT_SLIDE_ATOM = 0x03EF
_RT_NOTES = 0x03F0
_RT_SLIDE_PERSIST_ATOM = 0x03F3
_RT_PP_DRAWING = 0x040C
_RT_OUTLINE_TEXT_REF = 0x0F9E
_RT_TEXT_HEADER = 0x0F9F
_RT_TEXT_CHARS = 0x0FA0
_RT_TEXT_BYTES = 0x0FA8
_RT_SLIDE_LIST_WITH_TEXT = 0x0FF0
_RT_USER_EDIT = 0x0FF5
_RT_CURRENT_USER = 0x0FF6
_RT_PERSIST_DIRECTORY = 0x1772
_RT_CLIENT_TEXTBOX = 0xF00D

_SLIDES_INSTANCE, _NOTES_INSTANCE = 0, 2


class _PptFormatError(Exception):
    """The binary structure is not what [MS-PPT] describes (or breaks a limit)."""


class _Record:
    __slots__ = ("ver", "instance", "type", "start", "end")

    def __init__(self, ver: int, instance: int, rtype: int, start: int, end: int) -> None:
        self.ver, self.instance, self.type = ver, instance, rtype
        self.start, self.end = start, end  # the body: data[start:end]

    @property
    def is_container(self) -> bool:
        return self.ver == 0xF


class _PptReader:
    """A bounded walk over the records of a "PowerPoint Document" stream."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.records_left = MAX_PPT_RECORDS
        self.chars_left = MAX_PPT_TEXT_CHARS

    def record_at(self, offset: int, limit: int | None = None) -> _Record:
        """The record whose header starts at ``offset``; its body must end by ``limit``."""
        limit = len(self.data) if limit is None else limit
        if self.records_left <= 0:
            raise _PptFormatError(f"more than {MAX_PPT_RECORDS} records")
        self.records_left -= 1
        if offset < 0 or offset + 8 > limit:
            raise _PptFormatError(f"record header at {offset} outside its parent")
        ver_inst, rtype, length = struct.unpack_from("<HHI", self.data, offset)
        end = offset + 8 + length
        if end > limit:
            raise _PptFormatError(f"record 0x{rtype:04X} at {offset} runs past its parent")
        return _Record(ver_inst & 0xF, ver_inst >> 4, rtype, offset + 8, end)

    def children(self, parent: _Record) -> Iterator[_Record]:
        offset = parent.start
        while offset + 8 <= parent.end:
            child = self.record_at(offset, parent.end)
            yield child
            offset = child.end

    def text(self, record: _Record) -> str | None:
        """The text of a TextCharsAtom / TextBytesAtom, paragraphs as lines; None for
        other records or once the text budget is spent."""
        if record.type == _RT_TEXT_CHARS:
            body = self.data[record.start : record.end - (record.end - record.start) % 2]
            text = body.decode("utf-16-le", errors="replace")
        elif record.type == _RT_TEXT_BYTES:
            text = self.data[record.start : record.end].decode("latin-1")
        else:
            return None
        if self.chars_left <= 0:
            return None
        text = text[: self.chars_left]
        self.chars_left -= len(text)
        # \r ends a paragraph, \x0b is a line break inside one
        return text.replace("\r", "\n").replace("\x0b", "\n")

    def u32(self, offset: int, record: _Record) -> int:
        if offset + 4 > record.end:
            raise _PptFormatError(f"record 0x{record.type:04X} at {record.start - 8} too short")
        return int(struct.unpack_from("<I", self.data, offset)[0])


def _persist_directory(reader: _PptReader, current_user: bytes) -> tuple[dict[int, int], int]:
    """Persist object id → stream offset (newest save wins), and the document's id."""
    if len(current_user) < 20:
        raise _PptFormatError("Current User stream too short")
    rtype = struct.unpack_from("<H", current_user, 2)[0]
    if rtype != _RT_CURRENT_USER:
        raise _PptFormatError("no CurrentUserAtom")
    edit_offset = int(struct.unpack_from("<I", current_user, 16)[0])
    directory: dict[int, int] = {}
    doc_id: int | None = None
    seen: set[int] = set()
    while edit_offset and len(seen) < MAX_PPT_EDITS:
        if edit_offset in seen:  # a save pointing back at itself: older saves are lost
            break
        seen.add(edit_offset)
        edit = reader.record_at(edit_offset)
        if edit.type != _RT_USER_EDIT:
            raise _PptFormatError(f"no UserEditAtom at {edit_offset}")
        last_edit = reader.u32(edit.start + 8, edit)
        dir_offset = reader.u32(edit.start + 12, edit)
        if doc_id is None:
            doc_id = reader.u32(edit.start + 16, edit)
        atom = reader.record_at(dir_offset)
        if atom.type != _RT_PERSIST_DIRECTORY:
            raise _PptFormatError(f"no PersistDirectoryAtom at {dir_offset}")
        pos = atom.start
        while pos + 4 <= atom.end:
            entry = reader.u32(pos, atom)
            first, count = entry & 0xFFFFF, entry >> 20
            pos += 4
            if pos + 4 * count > atom.end:
                raise _PptFormatError("PersistDirectoryAtom entry runs past the atom")
            for i in range(count):
                directory.setdefault(first + i, reader.u32(pos + 4 * i, atom))
            pos += 4 * count
        edit_offset = last_edit
    if doc_id is None:
        raise _PptFormatError("no UserEditAtom")
    return directory, doc_id


class _SlideEntry:
    """A SlidePersistAtom of a SlideListWithText and the text records after it."""

    def __init__(self, persist_id: int, slide_id: int) -> None:
        self.persist_id, self.slide_id = persist_id, slide_id
        self.texts: list[str] = []


def _slide_list(reader: _PptReader, document: _Record, instance: int) -> list[_SlideEntry]:
    entries: list[_SlideEntry] = []
    for record in reader.children(document):
        if record.type != _RT_SLIDE_LIST_WITH_TEXT or record.instance != instance:
            continue
        for child in reader.children(record):
            if child.type == _RT_SLIDE_PERSIST_ATOM:
                persist_id = reader.u32(child.start, child)
                slide_id = reader.u32(child.start + 12, child)
                entries.append(_SlideEntry(persist_id, slide_id))
            elif entries:
                text = reader.text(child)
                if text is not None:
                    entries[-1].texts.append(text)
    return entries


def _container_at(
    reader: _PptReader, directory: dict[int, int], persist_id: int, rtype: int
) -> _Record | None:
    offset = directory.get(persist_id)
    if offset is None:
        return None
    record = reader.record_at(offset)
    return record if record.type == rtype and record.is_container else None


def _drawing_texts(reader: _PptReader, container: _Record, outline: list[str]) -> list[str]:
    """The text of a slide's (or notes page's) shapes in drawing order; a placeholder's
    reference into the SlideListWithText takes that text from ``outline``. Texts of
    ``outline`` no shape refers to come last."""
    out: list[str] = []
    used: set[int] = set()

    def walk(parent: _Record, depth: int) -> None:
        if depth > MAX_PPT_DEPTH:
            return
        for child in reader.children(parent):
            if child.type == _RT_CLIENT_TEXTBOX:
                for atom in reader.children(child):
                    if atom.type == _RT_OUTLINE_TEXT_REF:
                        index = reader.u32(atom.start, atom)
                        if index < len(outline) and index not in used:
                            used.add(index)
                            out.append(outline[index])
                    else:
                        text = reader.text(atom)
                        if text is not None:
                            out.append(text)
            elif child.is_container:
                walk(child, depth + 1)

    for child in reader.children(container):
        if child.type == _RT_PP_DRAWING and child.is_container:
            walk(child, 1)
    out.extend(text for i, text in enumerate(outline) if i not in used)
    return out


def _notes_ref(reader: _PptReader, slide: _Record) -> int:
    for child in reader.children(slide):
        if child.type == _RT_SLIDE_ATOM:
            return reader.u32(child.start + 16, child)  # after geom and the placeholder types
    return 0


def _ppt_slides(document_stream: bytes, current_user: bytes) -> list[str]:
    """Each slide's text (then its notes' text), in the order of the show."""
    reader = _PptReader(document_stream)
    directory, doc_id = _persist_directory(reader, current_user)
    document = _container_at(reader, directory, doc_id, _RT_DOCUMENT)
    if document is None:
        raise _PptFormatError("no DocumentContainer")
    slides = _slide_list(reader, document, _SLIDES_INSTANCE)
    notes = {entry.slide_id: entry for entry in _slide_list(reader, document, _NOTES_INSTANCE)}
    pages: list[str] = []
    for entry in slides:
        container = _container_at(reader, directory, entry.persist_id, _RT_SLIDE)
        if container is None:  # no drawing to read: the outline text is all there is
            pages.append("\n".join(entry.texts))
            continue
        texts = _drawing_texts(reader, container, entry.texts)
        note = notes.get(_notes_ref(reader, container))
        if note is not None:
            notes_page = _container_at(reader, directory, note.persist_id, _RT_NOTES)
            if notes_page is not None:
                texts += _drawing_texts(reader, notes_page, note.texts)
            else:
                texts += note.texts
        pages.append("\n".join(texts))
    return pages


def extract_ppt_pages(path: Path) -> Iterator[Page]:
    """A legacy PowerPoint .ppt (or WPS .dps, the same format): a page per slide, its
    shapes' text in drawing order and then its notes, read from the binary records.

    A show whose records cannot be followed (or that has no slides) comes out through
    catppt as one page: catppt's slide breaks do not follow the slides (the master and
    each slide's outline come out as further "slides"), so each line is kept once."""
    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    document_stream, current_user = _check_ppt(path)
    problem = ""
    try:
        slides = _ppt_slides(document_stream, current_user)
    except (_PptFormatError, struct.error) as e:
        slides, problem = [], str(e)
    del document_stream
    if slides:
        for number, text in enumerate(slides, 1):
            yield Page(number, clean_text(text))
        return
    if shutil.which("catppt") is None:
        if problem:
            raise ExtractionError(f"corrupt PPT: {problem}")
        raise UnsupportedFormatError("legacy .ppt without slides needs catdoc's catppt installed")
    text = _run(["catppt", "-d", "utf-8", str(path)], kind="PPT")
    lines = dict.fromkeys(line.strip() for line in text.replace("\f", "\n").split("\n"))
    yield Page(1, clean_text("\n".join(line for line in lines if line)))


def _check_ppt(path: Path) -> tuple[bytes, bytes]:
    """Refuse encrypted, non-OLE2, oversized and truncated files (catppt prints what it can
    of them and exits 0); the "PowerPoint Document" and "Current User" streams."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            if ole.exists("EncryptedSummary"):  # PowerPoint's RC4 CryptoAPI encryption
                raise EncryptedError("password-protected PPT")
            if not ole.exists("PowerPoint Document"):
                raise ExtractionError("corrupt PPT: no PowerPoint Document stream")
            declared = ole.get_size("PowerPoint Document")
            if declared > MAX_PPT_STREAM_BYTES:
                raise ExtractionError(
                    f"PPT too large: PowerPoint Document stream of {declared // (1024 * 1024)} MB"
                    f" (limit {MAX_PPT_STREAM_BYTES // (1024 * 1024)} MB)"
                )
            with ole.openstream("PowerPoint Document") as stream:
                data = stream.read(MAX_PPT_STREAM_BYTES)
            current_user = b""
            if ole.exists("Current User"):
                with ole.openstream("Current User") as stream:
                    current_user = stream.read(MAX_PPT_CURRENT_USER_BYTES)
    except ExtractionError:
        raise
    except (OSError, ValueError, IndexError, struct.error) as e:  # olefile's parse errors
        raise ExtractionError(f"corrupt PPT: {type(e).__name__}: {e}") from e
    if len(data) < declared:
        raise ExtractionError(
            f"corrupt PPT: truncated (PowerPoint Document stream {len(data)} of {declared} bytes)"
        )
    return data, current_user
