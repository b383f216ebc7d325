"""OFD (GB/T 33190), China's fixed-layout format: text page by page, metadata, invoice fields.

An OFD is a ZIP package: OFD.xml names the document (DocBody/DocRoot), Document.xml lists
the pages in reading order (Pages/Page@BaseLoc) and the template pages (CommonData), and
each page's Content.xml holds TextObjects with their position (Boundary) and TextCodes.
The package's XML is read with a cap on its inflated size and without DTDs, so a
decompression bomb or an entity bomb is refused before it costs memory.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from indexer._text import clean_text
from indexer._types import ExtractionError, Page

if TYPE_CHECKING:
    from PIL.Image import Image

#: A single part larger than this when unpacked is refused (a zip bomb, or not a document).
MAX_OFD_PART_BYTES = 64 * 1024 * 1024
#: XML read from one package in all: ElementTree needs several bytes of memory per byte of
#: XML, so more is a decompression bomb or beyond reading.
MAX_OFD_XML_BYTES = 48 * 1024 * 1024

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# how far apart (in units of the font size) two baselines may be and still be one line
_SAME_LINE = 0.5


def _local(tag: object) -> str:
    """An element's name without its namespace: some producers use none, or another one."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: ElementTree.Element, name: str) -> ElementTree.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _children(el: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ElementTree.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


class _Package:
    """The ZIP package with size-capped, DTD-free XML reads and OFD path resolution."""

    def __init__(self, path: Path, xml_budget: int = MAX_OFD_XML_BYTES) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise ExtractionError(f"corrupt OFD: not a valid ZIP package: {e}") from e
        self.sizes = {i.filename: i.file_size for i in infos}
        # OFD paths are case-sensitive in the standard, but Windows producers differ
        self.folded = {n.lower(): n for n in self.sizes}
        self.xml_left = self.xml_budget = xml_budget

    def close(self) -> None:
        self.zip.close()

    def resolve(self, loc: str, base: str = "") -> str | None:
        """The package member a location names: absolute ("/Doc_0/…") or relative to the
        folder of ``base``; backslashes and case differences of sloppy producers allowed."""
        loc = loc.strip().replace("\\", "/")
        if not loc:
            return None
        joined = loc.lstrip("/") if loc.startswith("/") else posixpath.join(base, loc)
        name = posixpath.normpath(joined).lstrip("/")
        if name in self.sizes:
            return name
        if base and not loc.startswith("/"):  # some write package-absolute paths
            alt = posixpath.normpath(loc).lstrip("/")
            if alt in self.sizes:
                return alt
        return self.folded.get(name.lower())

    def xml(self, name: str) -> ElementTree.Element:
        """A part parsed, within the package's XML budget; no DTD, no entities."""
        size = self.sizes[name]
        if size > MAX_OFD_PART_BYTES or size > self.xml_left:
            raise ExtractionError(
                f"OFD part {name} unpacks to {size // 1024**2} MB of XML (limit "
                f"{self.xml_budget // 1024**2} MB in all): a decompression bomb or too "
                "large to read"
            )
        self.xml_left -= size
        try:
            data = self.zip.read(name)  # never more than the declared size (CRC-checked)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise ExtractionError(f"corrupt OFD: part {name} cannot be unpacked: {e}") from e
        if _DOCTYPE.search(data):
            raise ExtractionError(f"corrupt OFD: part {name} has a DTD (refused: entity bomb)")
        try:
            return ElementTree.fromstring(data)
        except ElementTree.ParseError as e:
            raise ExtractionError(f"corrupt OFD: part {name} is not well-formed XML: {e}") from e


@dataclass(frozen=True, slots=True)
class _Run:
    """A TextCode at its place on the page: baseline origin, font size, text."""

    x: float
    y: float
    size: float
    end: float
    text: str


def _numbers(value: str | None) -> list[float]:
    out: list[float] = []
    for token in (value or "").split():
        try:
            number = float(token)
        except ValueError:
            continue
        if math.isfinite(number):
            out.append(number)
    return out


def _deltas(value: str | None, limit: int) -> list[float]:
    """DeltaX/DeltaY advances, with the "g N d" shorthand (N times d) expanded."""
    tokens = (value or "").split()
    out: list[float] = []
    i = 0
    while i < len(tokens) and len(out) < limit:
        if tokens[i] == "g" and i + 2 < len(tokens):
            count, step = _numbers(tokens[i + 1]), _numbers(tokens[i + 2])
            if count and step:
                out.extend([step[0]] * min(int(count[0]), limit - len(out)))
            i += 3
            continue
        out.extend(_numbers(tokens[i]))
        i += 1
    return out


def _char_width(char: str, size: float) -> float:
    return size if ord(char) > 0x2E7F else size / 2


def _runs(root: ElementTree.Element, objects: dict[str, str] | None = None) -> list[_Run]:
    """The text runs of a page or template content, wherever they are nested (Layer,
    PageBlock, CompositeObject); ``objects`` collects each TextObject's text by its ID."""
    runs: list[_Run] = []
    for obj in root.iter():
        if _local(obj.tag) != "TextObject":
            continue
        box = _numbers(obj.get("Boundary")) + [0.0, 0.0]
        sizes = _numbers(obj.get("Size"))
        size = sizes[0] if sizes and sizes[0] > 0 else 3.5
        x = y = 0.0
        texts: list[str] = []
        for code in _children(obj, "TextCode"):
            text = code.text or ""
            xs, ys = _numbers(code.get("X")), _numbers(code.get("Y"))
            x = xs[0] if xs else x  # a TextCode without X/Y goes on where the last one was
            y = ys[0] if ys else y
            if not text.strip():
                continue
            texts.append(text)
            dx = _deltas(code.get("DeltaX"), len(text) - 1)
            advance = sum(dx) + sum(_char_width(c, size) for c in text[len(dx) :])
            runs.append(_Run(box[0] + x, box[1] + y, size, box[0] + x + advance, text))
        if objects is not None and obj.get("ID"):
            objects[obj.get("ID", "")] = "".join(texts)
    return runs


def _lines(runs: list[_Run]) -> list[str]:
    """Runs grouped into lines by baseline, each line left to right: OFD producers write
    objects in any order (an invoice writes its values before its labels), and split one
    line into many objects, so document order reads worse (measured on the samples)."""
    lines: list[list[_Run]] = []
    for run in sorted(runs, key=lambda r: (r.y, r.x)):
        if lines and abs(run.y - lines[-1][0].y) <= _SAME_LINE * max(run.size, 1.0):
            lines[-1].append(run)
        else:
            lines.append([run])
    out: list[str] = []
    for line in lines:
        parts: list[str] = []
        end: float | None = None
        for run in sorted(line, key=lambda r: r.x):
            if end is not None and run.x - end > run.size:
                parts.append(" ")  # a visible gap: a table column or a label and its value
            parts.append(run.text)
            end = run.end
        out.append("".join(parts))
    return out


def _doc_root(package: _Package) -> tuple[ElementTree.Element, ElementTree.Element, str]:
    """OFD.xml's first DocBody and the parsed Document.xml with its member name."""
    if "OFD.xml" not in package.sizes and "ofd.xml" not in package.folded:
        raise ExtractionError("corrupt OFD: OFD.xml is missing from the package")
    ofd = package.xml(package.folded["ofd.xml"])
    body = _child(ofd, "DocBody")
    loc = _text(_child(body, "DocRoot")) if body is not None else ""
    if body is None or not loc:
        raise ExtractionError("corrupt OFD: OFD.xml names no document (DocBody/DocRoot)")
    name = package.resolve(loc)
    if name is None:
        raise ExtractionError(f"corrupt OFD: document {loc} is missing from the package")
    return body, package.xml(name), name


def extract_ofd_pages(path: Path) -> Iterator[Page]:
    """Each page of the first document, in Document.xml's order; template text included."""
    package = _Package(path)
    try:
        _, document, doc_name = _doc_root(package)
        pages_el = _child(document, "Pages")
        pages = _children(pages_el, "Page") if pages_el is not None else []
        if not pages:
            raise ExtractionError("corrupt OFD: the document lists no pages")
        templates: dict[str, str] = {}
        common = _child(document, "CommonData")
        for tpl in _children(common, "TemplatePage") if common is not None else []:
            name = package.resolve(tpl.get("BaseLoc", ""), posixpath.dirname(doc_name))
            if name is not None:
                templates[tpl.get("ID", "")] = name
        template_runs: dict[str, list[_Run]] = {}
        for number, page in enumerate(pages, 1):
            loc = page.get("BaseLoc", "")
            name = package.resolve(loc, posixpath.dirname(doc_name))
            if name is None:
                raise ExtractionError(f"corrupt OFD: page {number} ({loc}) is missing")
            content = package.xml(name)
            runs = _runs(content)
            for ref in _children(content, "Template"):
                tpl_name = templates.get(ref.get("TemplateID", ""))
                if tpl_name is None:
                    continue
                if tpl_name not in template_runs:  # read once, shared by its pages
                    template_runs[tpl_name] = _runs(package.xml(tpl_name))
                runs = runs + template_runs[tpl_name]
            yield Page(number, clean_text("\n".join(_lines(runs))))
    finally:
        package.close()


def has_doc_root(path: Path) -> bool:
    """Whether a ZIP is an OFD: its OFD.xml names a DocRoot (read within the caps)."""
    try:
        package = _Package(path)
    except ExtractionError:
        return False
    try:
        if "ofd.xml" not in package.folded:
            return False
        body = _child(package.xml(package.folded["ofd.xml"]), "DocBody")
        return body is not None and bool(_text(_child(body, "DocRoot")))
    except (ExtractionError, KeyError):
        return False
    finally:
        package.close()


# -- metadata ---------------------------------------------------------------------------

#: DocInfo elements and the keys they are returned under.
_DOC_INFO = {
    "Title": "title",
    "Author": "author",
    "Subject": "subject",
    "Abstract": "abstract",
    "Keywords": "keywords",
    "CreationDate": "creation_date",
    "ModDate": "mod_date",
    "DocID": "doc_id",
    "Creator": "creator",
}
#: Invoice fields: the eInvoice custom tag's element and DocInfo/CustomData's name for each.
_INVOICE = {
    "invoice_number": ("InvoiceNo", "发票号码"),
    "invoice_code": ("InvoiceCode", "发票代码"),
    "invoice_date": ("IssueDate", "开票日期"),
    "invoice_amount": ("TaxInclusiveTotalAmount", "价税合计"),
    "invoice_seller": ("SellerName", "销售方名称"),
    "invoice_buyer": ("BuyerName", "购买方名称"),
}
_CN_DATE = re.compile(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})\s*日?$")


def _normalize(key: str, value: str) -> str:
    value = " ".join(value.split())
    if key == "invoice_amount":
        return value.replace("¥", "").replace("￥", "").replace(",", "").strip()
    if key == "invoice_date" and (m := _CN_DATE.match(value)):
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    return value


def ofd_metadata(path: Path) -> dict[str, str]:
    """The document's DocInfo (title, author, subject, abstract, keywords, creation_date,
    mod_date, doc_id, creator) and, for an e-invoice, invoice_number, invoice_code,
    invoice_date (ISO), invoice_amount (tax included), invoice_seller and invoice_buyer;
    only the keys the file has.

    Invoice fields come from the eInvoice custom tag (Tags/CustomTags.xml: the values, or
    references to the printed text objects), else from DocInfo's CustomData (发票号码, …).
    Raises ExtractionError as extract_ofd_pages does for a package that cannot be read.
    """
    package = _Package(path)
    try:
        body, document, doc_name = _doc_root(package)
        meta: dict[str, str] = {}
        info = _child(body, "DocInfo")
        custom: dict[str, str] = {}
        if info is not None:
            for el in info:
                key = _DOC_INFO.get(_local(el.tag))
                if key and _text(el):
                    meta[key] = _normalize(key, _text(el))
            datas = _child(info, "CustomDatas")
            for data in _children(datas, "CustomData") if datas is not None else []:
                if data.get("Name") and _text(data):
                    custom[data.get("Name", "")] = _text(data)
        try:
            tagged = _invoice_tag(package, document, doc_name)
        except ExtractionError:  # a broken tag never hides the rest (seen: "<:eInvoice>")
            tagged = {}
        for key, (element, name) in _INVOICE.items():
            value = tagged.get(element) or custom.get(name, "")
            if value.strip():
                meta[key] = _normalize(key, value)
        return meta
    finally:
        package.close()


def _invoice_tag(package: _Package, document: ElementTree.Element, doc_name: str) -> dict[str, str]:
    """Invoice fields of the document's eInvoice custom tag, by element name: the value
    written in the tag, or the text of the page objects it refers to (ObjectRef)."""
    loc = _text(_child(document, "CustomTags"))
    index = package.resolve(loc, posixpath.dirname(doc_name)) if loc else None
    if index is None:
        return {}
    wanted = {element for element, _ in _INVOICE.values()}
    found: dict[str, str] = {}
    refs: dict[str, list[tuple[str, str]]] = {}
    for tag in _children(package.xml(index), "CustomTag"):
        name = package.resolve(_text(_child(tag, "FileLoc")), posixpath.dirname(index))
        if name is None:
            continue
        root = package.xml(name)
        if _local(root.tag) != "eInvoice":
            continue
        for el in root.iter():
            field = _local(el.tag)
            if field not in wanted or field in found or field in refs:
                continue
            objects = [r for r in el if _local(r.tag) == "ObjectRef"]
            if objects:
                refs[field] = [(r.get("PageRef", ""), _text(r)) for r in objects]
            elif _text(el):
                found[field] = _text(el)
    if refs:
        texts = _object_texts(package, document, doc_name, {p for v in refs.values() for p, _ in v})
        for field, pairs in refs.items():
            value = "".join(texts.get(page, {}).get(obj, "") for page, obj in pairs)
            if value.strip() and field not in found:
                found[field] = value
    return found


def _object_texts(
    package: _Package, document: ElementTree.Element, doc_name: str, page_ids: set[str]
) -> dict[str, dict[str, str]]:
    """The text of each TextObject by ID, for the pages with these IDs."""
    pages_el = _child(document, "Pages")
    out: dict[str, dict[str, str]] = {}
    for page in _children(pages_el, "Page") if pages_el is not None else []:
        if page.get("ID") not in page_ids:
            continue
        name = package.resolve(page.get("BaseLoc", ""), posixpath.dirname(doc_name))
        if name is not None:
            objects: dict[str, str] = {}
            _runs(package.xml(name), objects)
            out[page.get("ID", "")] = objects
    return out


# -- page image -------------------------------------------------------------------------

#: A page image is at most this many times as high as it is wide (a PhysicalBox of
#: 1 x 100000 mm would otherwise ask for a huge canvas).
_MAX_ASPECT = 4.0
_DEFAULT_BOX = (210.0, 297.0)  # A4, in mm, for documents that give no PhysicalBox
#: XML read to draw one page: drawing runs in the web process, not the extraction sandbox.
MAX_RENDER_XML_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Glyph:
    x: float
    y: float
    size: float
    char: str
    color: tuple[int, int, int]


def _color(obj: ElementTree.Element) -> tuple[int, int, int]:
    fill = _child(obj, "FillColor")
    rgb = [int(v) for v in _numbers(fill.get("Value") if fill is not None else None)[:3]]
    return (rgb[0], rgb[1], rgb[2]) if len(rgb) == 3 and max(rgb) <= 255 else (0, 0, 0)


def _glyphs(root: ElementTree.Element) -> Iterator[_Glyph]:
    """Every character of a page's (or template's) text at its own baseline position."""
    for obj in root.iter():
        if _local(obj.tag) != "TextObject":
            continue
        box = _numbers(obj.get("Boundary")) + [0.0, 0.0]
        sizes = _numbers(obj.get("Size"))
        size = sizes[0] if sizes and sizes[0] > 0 else 3.5
        color = _color(obj)
        x = y = 0.0
        for code in _children(obj, "TextCode"):
            text = code.text or ""
            xs, ys = _numbers(code.get("X")), _numbers(code.get("Y"))
            x, y = (xs[0] if xs else x), (ys[0] if ys else y)
            dx = _deltas(code.get("DeltaX"), max(len(text) - 1, 0))
            dy = _deltas(code.get("DeltaY"), max(len(text) - 1, 0))
            cx, cy = x, y
            for i, char in enumerate(text):
                if not char.isspace():
                    yield _Glyph(box[0] + cx, box[1] + cy, size, char, color)
                cx += dx[i] if i < len(dx) else _char_width(char, size)
                cy += dy[i] if i < len(dy) else 0.0


def _page_box(el: ElementTree.Element | None) -> tuple[float, float] | None:
    area = (
        _child(el, "Area" if _local(el.tag) == "Page" else "PageArea") if el is not None else None
    )
    box = _numbers(_text(_child(area, "PhysicalBox"))) if area is not None else []
    return (box[2], box[3]) if len(box) == 4 and box[2] > 0 and box[3] > 0 else None


def render_ofd_page(path: Path, page_number: int, *, width: int, font_path: Path) -> Image:
    """One page drawn with Pillow, ``width`` pixels wide: its template's and its own text
    at their positions (in ``font_path``, not the document's fonts) and its PNG/JPEG/BMP
    pictures in their boxes; paths, vector graphics and seals' appearance are left out.

    Raises ExtractionError as extract_ofd_pages does, and for a page that does not exist.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    package = _Package(path, MAX_RENDER_XML_BYTES)
    try:
        _, document, doc_name = _doc_root(package)
        base = posixpath.dirname(doc_name)
        pages_el = _child(document, "Pages")
        pages = _children(pages_el, "Page") if pages_el is not None else []
        if not 1 <= page_number <= len(pages):
            raise ExtractionError(f"OFD has no page {page_number}")
        loc = pages[page_number - 1].get("BaseLoc", "")
        name = package.resolve(loc, base)
        if name is None:
            raise ExtractionError(f"corrupt OFD: page {page_number} ({loc}) is missing")
        content = package.xml(name)
        common = _child(document, "CommonData")
        page_w, page_h = _page_box(content) or _page_box(common) or _DEFAULT_BOX
        scale = width / page_w
        height = max(1, min(round(page_h * scale), round(width * _MAX_ASPECT)))
        image = PILImage.new("RGB", (width, height), "white")
        templates = {
            tpl.get("ID", ""): tpl.get("BaseLoc", "")
            for tpl in (_children(common, "TemplatePage") if common is not None else [])
        }
        layers: list[ElementTree.Element] = []
        for ref in _children(content, "Template"):
            tpl_name = package.resolve(templates.get(ref.get("TemplateID", ""), ""), base)
            if tpl_name is not None:
                layers.append(package.xml(tpl_name))
        layers.append(content)
        media = _media(package, document, base)
        draw = ImageDraw.Draw(image)
        fonts: dict[int, ImageFont.FreeTypeFont] = {}
        for layer in layers:
            _draw_pictures(package, image, layer, media, scale)
            for glyph in _glyphs(layer):
                px = max(4, round(glyph.size * scale))
                if px not in fonts:
                    fonts[px] = ImageFont.truetype(str(font_path), px)
                xy = (glyph.x * scale, glyph.y * scale)
                draw.text(xy, glyph.char, font=fonts[px], fill=glyph.color, anchor="ls")
        return image
    finally:
        package.close()


def _media(package: _Package, document: ElementTree.Element, base: str) -> dict[str, str]:
    """Package members of the document's pictures by resource ID (MultiMedia/MediaFile)."""
    found: dict[str, str] = {}
    common = _child(document, "CommonData")
    for kind in ("DocumentRes", "PublicRes"):
        for ref in _children(common, kind) if common is not None else []:
            name = package.resolve(_text(ref), base)
            if name is None:
                continue
            try:
                res = package.xml(name)
            except ExtractionError:
                continue  # a broken resource list costs the pictures, not the page
            res_base = posixpath.join(posixpath.dirname(name), res.get("BaseLoc", ""))
            for media in res.iter():
                if _local(media.tag) != "MultiMedia":
                    continue
                file = package.resolve(_text(_child(media, "MediaFile")), res_base + "/")
                if file is not None and media.get("ID"):
                    found[media.get("ID", "")] = file
    return found


#: A picture larger than this unpacked is not drawn (a decompression bomb or a poster).
_MAX_PICTURE_BYTES = 16 * 1024 * 1024


def _draw_pictures(
    package: _Package, image: Image, layer: ElementTree.Element, media: dict[str, str], scale: float
) -> None:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    for obj in layer.iter():
        if _local(obj.tag) != "ImageObject":
            continue
        name = media.get(obj.get("ResourceID", ""))
        box = _numbers(obj.get("Boundary"))
        if name is None or len(box) != 4 or package.sizes[name] > _MAX_PICTURE_BYTES:
            continue
        w, h = round(box[2] * scale), round(box[3] * scale)
        if not (0 < w <= image.width * 2 and 0 < h <= image.height * 2):
            continue
        try:
            with PILImage.open(io.BytesIO(package.zip.read(name))) as picture:
                if picture.width * picture.height > 40_000_000:
                    continue
                tile = picture.convert("RGBA").resize((w, h))
        except (UnidentifiedImageError, PILImage.DecompressionBombError, OSError, ValueError):
            continue  # JBIG2 (.jb2) and broken pictures: Pillow cannot draw them
        except (zipfile.BadZipFile, EOFError):
            continue
        image.paste(tile, (round(box[0] * scale), round(box[1] * scale)), tile)
