"""File type detection and the one entry point that turns any supported file into pages."""

from __future__ import annotations

import logging
import math
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import olefile

from indexer._ofd import extract_ofd_pages, has_doc_root
from indexer._office import (
    OLE2_MAGIC,
    _ole_has_stream,
    extract_doc_pages,
    extract_docx_pages,
    extract_xls_pages,
    extract_xlsx_pages,
)
from indexer._pdf import extract_pdf_pages
from indexer._slides import extract_ppt_pages, extract_pptx_pages
from indexer._text import _plausible, clean_text, detect_encoding, extract_text_pages
from indexer._types import EncryptedError, ExtractionError, Page, UnsupportedFormatError

log = logging.getLogger(__name__)

#: The values ``detect_file_type`` returns.
FILE_TYPES = (
    "pdf",
    "docx",
    "xlsx",
    "xls",
    "doc",
    "pptx",
    "ppt",
    "ofd",
    "text",
    "image",
    "zip",
    "unknown",
)

_EXTENSIONS = {
    "pdf": "pdf",
    "docx": "docx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "xls": "xls",
    "et": "xls",  # WPS spreadsheets are BIFF8 inside
    "doc": "doc",
    "wps": "doc",  # WPS writer files are Word 97 inside
    "wpt": "doc",
    "ett": "xls",
    "pptx": "pptx",
    "ppsx": "pptx",
    "ppt": "ppt",
    "pps": "ppt",
    "dps": "ppt",  # WPS presentations are PowerPoint 97 inside
    "dpt": "ppt",
    "ofd": "ofd",
    "zip": "zip",
    **dict.fromkeys(
        ["txt", "text", "csv", "tsv", "md", "markdown", "xml", "html", "htm", "json", "log"]
        + ["ini", "yaml", "yml", "rst", "tex", "srt"],
        "text",
    ),
    **dict.fromkeys(
        ["png", "jpg", "jpeg", "jpe", "jfif", "tif", "tiff", "bmp", "gif", "webp"], "image"
    ),
}

_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
    b"GIF87a",
    b"GIF89a",
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_SNIFF_BYTES = 8192


def file_type_from_name(name: str) -> str:
    """One of FILE_TYPES from the file name's extension alone ("unknown" without a known
    one): a first guess before the content is read (``detect_file_type`` decides)."""
    return _by_extension(name) or "unknown"


def _by_extension(name: str) -> str | None:
    return _EXTENSIONS.get(Path(name).suffix.lower().lstrip("."))


def detect_file_type(path: str | os.PathLike[str], name: str | None = None) -> str:
    """One of FILE_TYPES, from the content's magic bytes first and the extension second.

    ``name`` is the original file name when ``path`` is a blob named by its hash.
    """
    path = Path(path)
    by_ext = _by_extension(name or path.name)
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        return by_ext or "unknown"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        return _zip_type(path, by_ext)
    if head.startswith(OLE2_MAGIC):
        return _ole_type(path, by_ext)
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(b"BM") and by_ext in (None, "image"):  # BMP: 2 magic bytes, be careful
        return "image"
    if head.startswith(b"{\\rtf"):
        return "unknown"  # RTF: no extractor reads its CJK escapes
    if _looks_like_text(head):
        # also .xls/.doc "exports" that are really HTML or CSV, common from web systems
        return "text"
    return by_ext or "unknown"


def _zip_type(path: Path, by_ext: str | None) -> str:
    """docx / xlsx / pptx / ofd by the package's main part, else what the name says, else zip."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        names = set()
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "OFD.xml" in names and has_doc_root(path):  # GB/T 33190: OFD.xml names a DocRoot
        return "ofd"
    return by_ext if by_ext in ("docx", "xlsx", "pptx", "ofd") else "zip"


#: The main stream of each legacy Office format, as the OLE2 directory spells it
_OLE_MAIN_STREAMS = (
    ("WordDocument", "doc"),  # Word and WPS writer (.wps)
    ("Workbook", "xls"),  # Excel 97+ and WPS spreadsheets (.et)
    ("Book", "xls"),  # Excel 5/95
    ("PowerPoint Document", "ppt"),  # PowerPoint and WPS presentations (.dps)
)


def _ole_type(path: Path, by_ext: str | None) -> str:
    """doc / xls / ppt from the OLE2 file's top-level streams, whatever the extension says
    (.wps, .et and .dps are these formats); an encrypted DOCX/XLSX/PPTX keeps its type."""
    if by_ext in ("docx", "xlsx", "pptx") and _ole_has_stream(path, "EncryptedPackage"):
        return by_ext
    found = _ole_root_types(path)
    if found is None:  # directory unreadable (truncated): the names anywhere in the file
        found = {kind for name, kind in _OLE_MAIN_STREAMS if _ole_has_stream(path, name)}
    if len(found) == 1:
        return found.pop()
    if found:  # one embeds the other: trust the extension
        return by_ext if by_ext in found else sorted(found)[0]
    return by_ext if by_ext in ("doc", "xls", "ppt", "docx", "xlsx", "pptx") else "unknown"


def _ole_root_types(path: Path) -> set[str] | None:
    """The types named by the root storage's streams (embedded objects live deeper, in
    ObjectPool or MBD storages, and do not count); None when the directory is unreadable."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            names = {entry[0].lower() for entry in ole.listdir() if len(entry) == 1}
    except (OSError, ValueError, IndexError, struct.error) as e:
        log.debug("%s: OLE directory unreadable: %s", path, e)
        return None
    return {kind for name, kind in _OLE_MAIN_STREAMS if name.lower() in names}


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes read as text in one of the encodings we detect."""
    try:
        encoding = detect_encoding(head, complete=False)
    except LookupError:
        return False
    if not encoding.startswith(("utf-16", "utf-32")) and b"\x00" in head:
        return False
    text = head.decode(encoding, errors="replace")
    return _plausible(text) >= 0.9


def extract_pages(
    path: str | os.PathLike[str],
    file_type: str | None = None,
    *,
    ocr: bool = True,
    ocr_dpi: int = 150,
    max_ocr_pages: int = 200,
) -> Iterator[Page]:
    """The pages of a file, one at a time, 1-based; OCR for scans and images when ``ocr``.

    Raises EncryptedError, ExtractionError (corrupt, truncated, empty) or
    UnsupportedFormatError while iterating.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    file_type = file_type or detect_file_type(path)
    if file_type == "pdf":
        yield from extract_pdf_pages(path, ocr=ocr, ocr_dpi=ocr_dpi, max_ocr_pages=max_ocr_pages)
    elif file_type == "docx":
        yield from extract_docx_pages(path, ocr=ocr, max_ocr_pages=max_ocr_pages)
    elif file_type == "xlsx":
        yield from extract_xlsx_pages(path)
    elif file_type == "xls":
        yield from extract_xls_pages(path)
    elif file_type == "doc":
        yield from extract_doc_pages(path)
    elif file_type == "pptx":
        yield from extract_pptx_pages(path)
    elif file_type == "ppt":
        yield from extract_ppt_pages(path)
    elif file_type == "ofd":
        yield from extract_ofd_pages(path)
    elif file_type == "text":
        yield from extract_text_pages(path)
    elif file_type == "image":
        if not ocr:
            raise UnsupportedFormatError("images can only be read with OCR, which is turned off")
        yield from extract_image_pages(path, max_ocr_pages=max_ocr_pages)
    elif file_type == "zip":
        raise UnsupportedFormatError("ZIP archives are not documents: unpack them to upload")
    else:
        with open(path, "rb") as f:
            ole = f.read(8) == OLE2_MAGIC
        if ole and _ole_has_stream(path, "EncryptedPackage"):
            raise EncryptedError("password-protected Office file")
        raise UnsupportedFormatError(f"unsupported file type {file_type!r}")


def extract_image_pages(
    path: str | os.PathLike[str], *, max_ocr_pages: int = 200
) -> Iterator[Page]:
    """OCR every frame of an image file (multi-page TIFF: one page per frame).

    Each frame is first turned as its EXIF orientation says (how a phone stores a photo taken
    sideways), then OCR turns it again if the text still lies sideways or upside down.
    """
    from PIL import ExifTags, Image, ImageOps, ImageSequence, UnidentifiedImageError

    from indexer._ocr import DEFAULT_SETTINGS, ocr_page

    try:
        image = Image.open(path)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise ExtractionError(f"corrupt image: {e}") from e
    with image:
        if image.format == "JPEG":
            # decode big photos at a reduced scale (1/2, 1/4, 1/8) that still keeps the long
            # side at least as long as OCR reads it: a 8000 x 6000 photo is decoded at
            # 2000 x 1500, not 4000 x 3000
            f = DEFAULT_SETTINGS.max_side / max(image.size)
            image.draft("RGB", (math.ceil(image.width * f), math.ceil(image.height * f)))
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            if index >= max_ocr_pages:
                log.info("%s: OCR limit of %d frames reached", path, max_ocr_pages)
                break
            try:
                frame.load()  # decode here: a truncated file is a corrupt image
                upright = frame  # copied only to be turned or converted: photos are big
                if frame.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                    upright = ImageOps.exif_transpose(frame)
                if upright.mode not in ("RGB", "L"):  # OCR reads both
                    upright = upright.convert("RGB")
            except (OSError, ValueError, SyntaxError) as e:
                raise ExtractionError(f"corrupt image: frame {index + 1}: {e}") from e
            read = ocr_page(upright)
            del upright
            yield Page(index + 1, clean_text(read.text), "ocr", read.rotation)
