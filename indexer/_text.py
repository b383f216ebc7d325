"""Plain text files (encoding detection, paging) and the text clean-up all extractors share."""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from indexer._types import ExtractionError, Page

#: Long text is cut into pages of about this many characters (at line ends) so that a search
#: hit in a 2 MB text file still names a page.
PAGE_CHARS = 3000
#: Bytes read to decide the encoding (the rest is decoded as it streams in).
SAMPLE_BYTES = 1 << 20
_CHUNK = 1 << 20
MAX_LINE_CHARS = 1 << 20  # a longer line is cut, so one line cannot fill the memory
#: Fewer letters/digits/Han characters than this on a PDF page with pictures, or in a DOCX
#: with pictures, means a scan: the pictures are read by OCR.
MIN_TEXT_CHARS = 20

# Characters that carry no text: C0/C1 controls other than tab and newline, DEL, the
# replacement character, private-use code points (unmapped glyphs) and non-characters.
_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff\ufffe\uffff]")
_TRAILING_SPACE = re.compile(r"[ \t\u3000]+$", re.MULTILINE)


def clean_text(text: str) -> str:
    """Normalise newlines, drop control/private-use/replacement characters, trim line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _JUNK.sub("", text)
    return _TRAILING_SPACE.sub("", text).strip("\n")


def is_cjk(char: str) -> bool:
    """Han ideograph (URO, extension A, compatibility, the supplementary planes)."""
    o = ord(char)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x3134F
    )


# Latin-1 characters that legitimately occur in Chinese documents; the rest of U+0080-U+00FF
# is typical of GBK bytes shown as Latin-1 ("¹ØÓÚ" for 关于) by a font without a cmap.
_LATIN1_OK = frozenset("\u00a0§©®°±²³µ·¹×÷")


_LATIN1_JUNK = "".join(chr(o) for o in range(0xA0, 0x100) if chr(o) not in _LATIN1_OK)
_JUNK_CHAR = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd\ue000-\uf8ff{_LATIN1_JUNK}]")
_WORD_CHAR = re.compile(r"[^\W_]")  # letters and digits of any script, Han included
_VISIBLE = re.compile(r"\S")


def text_quality(text: str) -> tuple[int, float]:
    """(meaningful characters, share of junk among non-space characters) of extracted text.

    Meaningful = letters and digits of any script, Han included. Junk = control characters,
    private-use and replacement characters, and Latin-1 letters (mojibake of CJK bytes).
    Regular expressions rather than a loop: this runs on every PDF page.
    """
    visible = len(_VISIBLE.findall(text))
    if not visible:
        return 0, 0.0
    junk = _JUNK_CHAR.findall(text)
    junk_letters = sum(1 for ch in junk if ch.isalnum())
    meaningful = len(_WORD_CHAR.findall(text)) - junk_letters
    return meaningful, len(junk) / visible


def split_pages(lines: Iterable[str], page_chars: int = PAGE_CHARS) -> Iterator[str]:
    """Group lines (without newlines) into pages of at most ``page_chars`` characters.

    Pages break at line ends; a single line longer than a page is cut into page-sized parts.
    """
    buf: list[str] = []
    size = 0
    for line in lines:
        while len(line) > page_chars:
            if buf:
                yield "\n".join(buf)
                buf, size = [], 0
            yield line[:page_chars]
            line = line[page_chars:]
        added = len(line) + (1 if buf else 0)
        if buf and size + added > page_chars:
            yield "\n".join(buf)
            buf, size, added = [], 0, len(line)
        buf.append(line)
        size += added
    if buf:
        yield "\n".join(buf)


def paginate(text: str, page_chars: int = PAGE_CHARS) -> Iterator[Page]:
    """Pages 1, 2, ... of ``text`` cut at line ends; nothing for blank text."""
    number = 0
    for chunk in split_pages(text.split("\n"), page_chars):
        if chunk.strip():
            number += 1
            yield Page(number, chunk)


# -- encoding detection ------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: FF FE 00 00 starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decodes(sample: bytes, encoding: str, complete: bool) -> str | None:
    """``sample`` decoded strictly, or None. A sample cut off mid-character is accepted."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        return decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return None


def _plausible(text: str) -> float:
    """Share of characters that are ordinary text (Han, ASCII, CJK punctuation, space)."""
    if not text:
        return 0.0
    good = 0
    for ch in text:
        o = ord(ch)
        if (
            (0x20 <= o < 0x7F)
            or ch in "\t\n\r"
            or is_cjk(ch)
            or 0x3000 <= o <= 0x303F  # CJK punctuation
            or 0xFF00 <= o <= 0xFFEF  # full-width forms
            or 0x2010 <= o <= 0x206F  # general punctuation: dashes, quotes, ellipsis
        ):
            good += 1
    return good / len(text)


def _utf16_without_bom(sample: bytes, complete: bool) -> str | None:
    """UTF-16 LE/BE without a BOM: the decoding that reads as ordinary text, if any."""
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    # ASCII-heavy UTF-16 has NUL high bytes; CJK-heavy UTF-16 must read as plausible text
    candidates = ["utf-16-le", "utf-16-be"] if odd_nuls >= even_nuls else ["utf-16-be", "utf-16-le"]
    for encoding in candidates:
        n = len(sample) - (len(sample) % 2) if not complete else len(sample)
        text = _decodes(sample[:n], encoding, complete)
        if text and "\x00" not in text and _plausible(text) >= 0.95:
            return encoding
    return None


def detect_encoding(sample: bytes, complete: bool = True) -> str:
    """The encoding of a text sample: BOM, UTF-8, BOM-less UTF-16, GB18030 or Big5.

    ``complete`` says the sample is the whole file (otherwise a cut-off last character is
    fine). Chinese legacy files are GBK/GB2312 (read as GB18030, their superset) or Big5;
    when both decode, charset-normalizer chooses, restricted to those two.
    """
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    if _decodes(sample, "utf-8", complete) is not None:
        return "utf-8"
    utf16 = _utf16_without_bom(sample, complete)
    if utf16:
        return utf16
    candidates = [e for e in ("gb18030", "big5") if _decodes(sample, e, complete) is not None]
    if len(candidates) == 1:
        return candidates[0]
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=["gb18030", "big5"]).best()
    if best is not None:
        return "gb18030" if best.encoding in ("gb18030", "gbk", "gb2312") else "big5"
    return "gb18030"  # undecodable either way: GB18030 with replacement characters


def decode_text(data: bytes) -> str:
    """Bytes of a text file as a string, encoding detected as in ``detect_encoding``."""
    encoding = detect_encoding(data[:SAMPLE_BYTES], complete=len(data) <= SAMPLE_BYTES)
    return data.decode(encoding, errors="replace").removeprefix("\ufeff")


def _is_binary(sample: bytes, encoding: str) -> bool:
    """NUL bytes in a file that is not UTF-16/32 mean it is not text at all."""
    return not encoding.startswith(("utf-16", "utf-32")) and sample.count(0) > len(sample) // 100


def _decoded_lines(path: Path) -> Iterator[str]:
    """Lines of a text file (without newline characters), decoded in bounded chunks."""
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES)
        if not sample:
            raise ExtractionError("empty file (0 bytes)")
        more = f.read(1)
        encoding = detect_encoding(sample, complete=not more)
        if _is_binary(sample, encoding):
            raise ExtractionError("not a text file: it contains binary data")
        decoder = codecs.getincrementaldecoder(encoding)("replace")
        chunk, pending, held_cr, at_start = sample + more, "", False, True
        while True:
            final = not chunk
            text = pending + ("\r" if held_cr else "") + decoder.decode(chunk, final=final)
            if at_start:
                text, at_start = text.removeprefix("\ufeff"), False
            # a "\r" at the end may be the first half of a "\r\n" split across chunks
            held_cr = not final and text.endswith("\r")
            if held_cr:
                text = text[:-1]
            lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            if final:
                yield from lines if lines[-1] else lines[:-1]
                return
            pending = lines.pop()  # the unfinished last line
            yield from lines
            if len(pending) > MAX_LINE_CHARS:  # no line break for a megabyte: cut the line
                yield pending
                pending = ""
            chunk = f.read(_CHUNK)


def extract_text_pages(path: Path) -> Iterator[Page]:
    """A plain text / CSV / XML file as pages of about ``PAGE_CHARS`` characters."""
    number = 0
    for chunk in split_pages(clean_text(line) for line in _decoded_lines(path)):
        if chunk.strip():
            number += 1
            yield Page(number, chunk)
