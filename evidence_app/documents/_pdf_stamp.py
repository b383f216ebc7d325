"""A text stamp on every page of a PDF, written as an incremental update, page by page.

The original bytes stay untouched at the start of the file (the caller copied them in while
checking their SHA-256). Appended after them are, per page, a new page dictionary whose
content becomes ``q <the page's own content> Q`` followed by a Form XObject that draws the
stamp, the stamp forms themselves (one per page size) and a cross-reference section whose
``/Prev`` points at the original's. Only page dictionaries and the small new objects pass
through memory, never page contents or images, so stamping a 500 MB scan costs about as much
memory as a 5 MB one. (pypdf's own writers hold every object of the document until the end.)

The stamp is drawn by reportlab in the Adobe-GB1 CID font STSong-Light, which PDF viewers
supply themselves (nothing is embedded): diagonal, semi-transparent rows over the whole page,
and an upright line at the top and the bottom, which text extraction (pypdf, pdfium) reads
back on every page.

Encrypted PDFs (an owner password and an empty user password are common in official
documents) and PDFs whose cross-reference chain is broken are first rewritten whole by pypdf
(decrypted, repaired), then stamped the same way: only that path holds the whole document in
memory.
"""

from __future__ import annotations

import io
import math
import re
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    PdfObject,
    StreamObject,
)

FONT = "STSong-Light"
ANGLE = 30
COLOUR = (0.75, 0.12, 0.12)
DIAGONAL_ALPHA = 0.2
LINE_ALPHA = 0.6
XOBJECT_NAME = "/EvidenceStamp"


class PdfStampError(ValueError):
    """The PDF cannot be stamped; the message (Chinese) says why."""


def stamp_pdf(file: BinaryIO, text: str, tmp_dir: Path | None = None) -> BinaryIO:
    """Stamp every page of the PDF in ``file`` (seekable, opened for reading and writing,
    holding the original). Returns ``file`` with the update appended, or a new temporary file
    holding a rewritten and stamped copy (encrypted or broken originals)."""
    try:
        reader = PdfReader(file, strict=False)
        if reader.is_encrypted or _previous_xref(file) is None:
            return _rewrite_and_stamp(reader, text, tmp_dir)
        _append_stamps(file, reader, text)
    except PdfStampError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        # a broken PDF breaks pypdf in many ways; none of them may become a 500
        raise PdfStampError("此 PDF 文件结构损坏，无法加盖水印，请使用在线查看") from e
    return file


def _rewrite_and_stamp(reader: PdfReader, text: str, tmp_dir: Path | None) -> BinaryIO:
    if reader.is_encrypted:
        try:
            decrypted = reader.decrypt("")
        except PyPdfError as e:  # an encryption pypdf cannot undo (missing crypto library)
            raise PdfStampError("此 PDF 已加密，无法加盖水印，请使用在线查看") from e
        if not decrypted:
            raise PdfStampError("此 PDF 设有打开密码，无法加盖水印，请使用在线查看")
    copy = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - returned to the caller
    try:
        PdfWriter(clone_from=reader).write(copy)
        copy.flush()
        rewritten = PdfReader(copy, strict=False)
        if _previous_xref(copy) is None:
            raise PdfStampError("此 PDF 文件结构损坏，无法加盖水印，请使用在线查看")
        _append_stamps(copy, rewritten, text)
    except BaseException:
        copy.close()
        raise
    return copy


# -- the cross-reference chain ---------------------------------------------------------------


def _previous_xref(file: BinaryIO) -> tuple[int, bool] | None:
    """The offset of the last cross-reference section and whether it is a stream (else a
    table); None when ``startxref`` does not lead to one."""
    file.seek(0, io.SEEK_END)
    end = file.tell()
    file.seek(max(0, end - 4096))
    tail = file.read()
    found = list(re.finditer(rb"startxref\s+(\d+)", tail))
    if not found:
        return None
    offset = int(found[-1].group(1))
    if offset >= end:
        return None
    file.seek(offset)
    head = file.read(64)
    if head.lstrip().startswith(b"xref"):
        return offset, False
    if re.match(rb"\s*\d+\s+\d+\s+obj", head):
        return offset, True
    return None


class _Update:
    """The objects of one incremental update, written as they come."""

    def __init__(self, file: BinaryIO, reader: PdfReader) -> None:
        self.file = file
        self.reader = reader
        size = int(reader.trailer.get("/Size", 0))
        self.next_id = max(size, 1)
        self.offsets: dict[int, tuple[int, int]] = {}  # id → (offset, generation)
        file.seek(0, io.SEEK_END)
        file.write(b"\n")

    def reserve(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def ref(self, idnum: int, generation: int = 0) -> IndirectObject:
        return IndirectObject(idnum, generation, self.reader)

    def write(self, obj: PdfObject, idnum: int | None = None, generation: int = 0) -> int:
        idnum = self.reserve() if idnum is None else idnum
        self.file.seek(0, io.SEEK_END)  # pypdf reads the same file in between
        self.offsets[idnum] = (self.file.tell(), generation)
        self.file.write(f"{idnum} {generation} obj\n".encode())
        obj.write_to_stream(self.file)
        self.file.write(b"\nendobj\n")
        return idnum

    def finish(self, previous: int, as_stream: bool) -> None:
        trailer = DictionaryObject()
        for key in ("/Root", "/Info"):
            value = self.reader.trailer.raw_get(key) if key in self.reader.trailer else None
            if value is not None:
                trailer[NameObject(key)] = value
        if "/ID" in self.reader.trailer:
            trailer[NameObject("/ID")] = self.reader.trailer["/ID"]
        trailer[NameObject("/Prev")] = NumberObject(previous)
        if as_stream:
            self._finish_stream(trailer)
        else:
            self._finish_table(trailer)

    def _sections(self, ids: list[int]) -> list[tuple[int, int]]:
        sections: list[tuple[int, int]] = []
        for idnum in ids:
            if sections and sections[-1][0] + sections[-1][1] == idnum:
                sections[-1] = (sections[-1][0], sections[-1][1] + 1)
            else:
                sections.append((idnum, 1))
        return sections

    def _finish_table(self, trailer: DictionaryObject) -> None:
        ids = sorted(self.offsets)
        start = self.file.seek(0, io.SEEK_END)
        out = [b"xref\n"]
        for first, count in self._sections(ids):
            out.append(f"{first} {count}\n".encode())
            for idnum in range(first, first + count):
                offset, generation = self.offsets[idnum]
                out.append(f"{offset:010d} {generation:05d} n \n".encode())
        self.file.write(b"".join(out))
        trailer[NameObject("/Size")] = NumberObject(self.next_id)
        self.file.write(b"trailer\n")
        trailer.write_to_stream(self.file)
        self.file.write(f"\nstartxref\n{start}\n%%EOF\n".encode())

    def _finish_stream(self, trailer: DictionaryObject) -> None:
        own_id = self.reserve()
        start = self.file.seek(0, io.SEEK_END)
        self.offsets[own_id] = (start, 0)
        ids = sorted(self.offsets)
        width = max(4, math.ceil(start.bit_length() / 8))
        rows = []
        for idnum in ids:
            offset, generation = self.offsets[idnum]
            rows.append(b"\x01" + offset.to_bytes(width, "big") + generation.to_bytes(2, "big"))
        xref = DecodedStreamObject()
        xref.set_data(b"".join(rows))
        xref.update(trailer)
        xref[NameObject("/Type")] = NameObject("/XRef")
        xref[NameObject("/Size")] = NumberObject(self.next_id)
        xref[NameObject("/W")] = ArrayObject(
            [NumberObject(1), NumberObject(width), NumberObject(2)]
        )
        xref[NameObject("/Index")] = ArrayObject(
            [NumberObject(n) for section in self._sections(ids) for n in section]
        )
        self.file.write(f"{own_id} 0 obj\n".encode())
        xref.write_to_stream(self.file)
        self.file.write(f"\nendobj\nstartxref\n{start}\n%%EOF\n".encode())


# -- the stamp itself --------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _overlay_pdf(text: str, width: float, height: float) -> bytes:
    """A one-page PDF of ``width`` x ``height`` points holding only the stamp."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(width, height), pageCompression=0, invariant=1)
    short = min(width, height)
    size = max(7.0, min(40.0, short / 32))
    text_width = pdfmetrics.stringWidth(text, FONT, size)
    c.setFillColorRGB(*COLOUR)
    c.setFillAlpha(DIAGONAL_ALPHA)
    c.setFont(FONT, size)
    c.saveState()
    c.translate(width / 2, height / 2)
    c.rotate(ANGLE)
    reach = math.hypot(width, height) / 2 + text_width
    step_along, step_across = text_width + 3 * size, 4.5 * size
    rows, cols = int(reach / step_across) + 1, int(reach / step_along) + 1
    cos, sin = math.cos(math.radians(ANGLE)), math.sin(math.radians(ANGLE))
    for j in range(-rows, rows + 1):
        shift = (j % 2) * step_along / 2
        for i in range(-cols, cols + 1):
            u, v = i * step_along + shift, j * step_across  # the text's centre, turned
            x, y = u * cos - v * sin, u * sin + v * cos
            if abs(x) <= (width + text_width) / 2 and abs(y) <= (height + text_width) / 2:
                c.drawString(u - text_width / 2, v, text)
    c.restoreState()
    # upright lines at the top and the bottom edge: what text extraction reads on each page
    line = max(5.0, min(10.0, short / 60))
    c.setFillAlpha(LINE_ALPHA)
    c.setFont(FONT, line)
    c.drawCentredString(width / 2, line * 0.8, text)
    c.drawCentredString(width / 2, height - line * 1.6, text)
    c.showPage()
    c.save()
    return out.getvalue()


class _Stamper:
    """Adds the stamp to the pages of one PDF, sharing forms and streams between pages."""

    def __init__(self, update: _Update, text: str) -> None:
        self.update = update
        self.text = text
        self.forms: dict[tuple[float, float], IndirectObject] = {}
        self.suffixes: dict[tuple[str, tuple[float, ...], int], IndirectObject] = {}
        self.resources: dict[tuple[Any, ...], IndirectObject] = {}
        self.prefix: IndirectObject | None = None

    def _stream(self, data: bytes) -> IndirectObject:
        stream = DecodedStreamObject()
        stream.set_data(data)
        return self.update.ref(self.update.write(stream))

    def form(self, width: float, height: float) -> IndirectObject:
        """The stamp as a Form XObject for a page shown ``width`` x ``height``."""
        key = (round(width, 1), round(height, 1))
        if key not in self.forms:
            overlay = PdfReader(io.BytesIO(_overlay_pdf(self.text, *key)))
            page = overlay.pages[0]
            memo: dict[int, IndirectObject] = {}
            form = DecodedStreamObject()
            form.set_data(page.get_contents().get_data())  # type: ignore[union-attr]
            form[NameObject("/Type")] = NameObject("/XObject")
            form[NameObject("/Subtype")] = NameObject("/Form")
            form[NameObject("/BBox")] = ArrayObject(
                [FloatObject(0), FloatObject(0), FloatObject(key[0]), FloatObject(key[1])]
            )
            form[NameObject("/Resources")] = self._copy(page.raw_get("/Resources"), memo)
            self.forms[key] = self.update.ref(self.update.write(form.flate_encode()))
        return self.forms[key]

    def _copy(self, obj: Any, memo: dict[int, IndirectObject]) -> Any:
        """``obj`` of the overlay PDF, its indirect objects written into the update."""
        if isinstance(obj, IndirectObject):
            if obj.idnum not in memo:
                idnum = self.update.reserve()
                memo[obj.idnum] = self.update.ref(idnum)
                self.update.write(self._copy(obj.get_object(), memo), idnum)
            return memo[obj.idnum]
        if isinstance(obj, StreamObject):
            stream = DecodedStreamObject()
            stream.set_data(obj.get_data())
            for key, value in obj.items():
                if key not in ("/Length", "/Filter", "/DecodeParms"):
                    stream[NameObject(key)] = self._copy(value, memo)
            return stream
        if isinstance(obj, DictionaryObject):
            return DictionaryObject({NameObject(k): self._copy(v, memo) for k, v in obj.items()})
        if isinstance(obj, ArrayObject):
            return ArrayObject(self._copy(v, memo) for v in obj)
        return obj

    def stamp_page(self, page: DictionaryObject) -> None:
        reference = page.indirect_reference
        assert reference is not None
        reader = self.update.reader
        box = page.cropbox  # type: ignore[attr-defined]
        left, bottom = float(box.left), float(box.bottom)
        width, height = max(float(box.width), 1.0), max(float(box.height), 1.0)
        rotate = int(page.get("/Rotate", 0) or 0) % 360
        if rotate not in (0, 90, 180, 270):
            rotate = 0
        shown = (height, width) if rotate in (90, 270) else (width, height)
        matrix = {  # from the page as shown to the page's own space
            0: (1, 0, 0, 1, left, bottom),
            90: (0, 1, -1, 0, left + width, bottom),
            180: (-1, 0, 0, -1, left + width, bottom + height),
            270: (0, -1, 1, 0, left, bottom + height),
        }[rotate]
        form = self.form(*shown)

        resources, name = self._resources(page, form)
        suffix_key = (name, tuple(round(v, 3) for v in matrix), form.idnum)
        if suffix_key not in self.suffixes:
            cm = " ".join(f"{v:.3f}".rstrip("0").rstrip(".") for v in matrix)
            self.suffixes[suffix_key] = self._stream(f"Q q {cm} cm {name} Do Q\n".encode())
        if self.prefix is None:
            self.prefix = self._stream(b"q\n")

        contents: list[Any] = []
        raw = page.raw_get("/Contents") if "/Contents" in page else None
        if isinstance(raw, IndirectObject):
            target = raw.get_object()
            if isinstance(target, ArrayObject):
                contents = list(target)
            else:
                contents = [raw]
            # the content stream's bytes are not needed again: do not keep them around
            reader.resolved_objects.pop((raw.generation, raw.idnum), None)
        elif isinstance(raw, ArrayObject):
            contents = list(raw)
        new_page = DictionaryObject({NameObject(k): page.raw_get(k) for k in page})
        new_page[NameObject("/Contents")] = ArrayObject(
            [self.prefix, *contents, self.suffixes[suffix_key]]
        )
        new_page[NameObject("/Resources")] = resources
        self.update.write(new_page, reference.idnum, reference.generation)

    def _resources(self, page: DictionaryObject, form: IndirectObject) -> tuple[Any, str]:
        """The page's resources with the stamp form added, and the form's name there."""
        raw = page.raw_get("/Resources") if "/Resources" in page else None
        original = raw.get_object() if isinstance(raw, IndirectObject) else raw
        if not isinstance(original, DictionaryObject):
            original = DictionaryObject()
        xobjects = original.get("/XObject")
        xobjects = xobjects if isinstance(xobjects, DictionaryObject) else DictionaryObject()
        name = XOBJECT_NAME
        n = 0
        while name in xobjects:
            n += 1
            name = f"{XOBJECT_NAME}{n}"
        key: tuple[Any, ...] = (
            ("ref", raw.idnum, raw.generation)
            if isinstance(raw, IndirectObject)
            else ("obj", id(raw))
        ) + (form.idnum,)
        if raw is not None and key in self.resources:
            return self.resources[key], name
        merged_xobjects = DictionaryObject({NameObject(k): xobjects.raw_get(k) for k in xobjects})
        merged_xobjects[NameObject(name)] = form
        merged = DictionaryObject({NameObject(k): original.raw_get(k) for k in original})
        merged[NameObject("/XObject")] = merged_xobjects
        if raw is None:  # the page's own (empty) resources
            return merged, name
        ref = self.update.ref(self.update.write(merged))
        self.resources[key] = ref
        return ref, name


def _append_stamps(file: BinaryIO, reader: PdfReader, text: str) -> None:
    previous = _previous_xref(file)
    assert previous is not None
    if not len(reader.pages):
        raise PdfStampError("此 PDF 没有页面，无法加盖水印")
    update = _Update(file, reader)
    stamper = _Stamper(update, text)
    for page in reader.pages:
        stamper.stamp_page(page)
    update.finish(*previous)
    file.flush()
