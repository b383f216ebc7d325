"""Page images of PDF evidence with search terms highlighted (server-side, no pdf.js), and
of pictures; stamped with the viewer's name where ``watermark.stamp_for`` says so."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from evidence_app.documents.watermark import Stamp, font_path, stamp_image, stamp_tile
from indexer import ExtractionError, render_ofd_page

MAX_TERMS = 8


class PreviewError(ValueError):
    """The page cannot be rendered (not a PDF, no such page, broken file)."""


def page_count(path: Path) -> int:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise PreviewError("无法打开 PDF") from e
    try:
        return len(pdf)
    finally:
        pdf.close()


def render_page_png(
    path: Path, page_number: int, terms: list[str], width: int = 1000, stamp: Stamp | None = None
) -> bytes:
    """PNG of one page, ``width`` pixels wide, with every occurrence of the terms boxed and
    the stamp, if any, drawn over it."""
    import pypdfium2 as pdfium
    from PIL import ImageDraw

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        raise PreviewError("无法打开 PDF") from e
    try:
        if not 1 <= page_number <= len(pdf):
            raise PreviewError(f"没有第 {page_number} 页")
        page = pdf[page_number - 1]
        try:
            page_width, page_height = page.get_size()
            scale = max(0.2, min(4.0, width / max(page_width, 1)))
            bitmap = page.render(scale=scale)
            image = bitmap.to_pil().convert("RGB")
            bitmap.close()
            boxes = _term_boxes(page, terms)
            if boxes:
                overlay = image.copy()
                draw = ImageDraw.Draw(overlay)
                for left, bottom, right, top in boxes:
                    x0, x1 = left * scale, right * scale
                    y0, y1 = (page_height - top) * scale, (page_height - bottom) * scale
                    draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], fill=(255, 230, 0))
                image = _blend(image, overlay)
        finally:
            page.close()
    finally:
        pdf.close()
    return _finish_png(image, stamp)


def render_picture_png(
    path: Path, page_number: int, width: int = 1000, stamp: Stamp | None = None
) -> bytes:
    """PNG of a picture (of one frame of a multi-page TIFF), at most ``width`` pixels wide,
    upright as its EXIF says, with the stamp, if any."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            frames = getattr(picture, "n_frames", 1)
            if not 1 <= page_number <= frames:
                raise PreviewError(f"没有第 {page_number} 页")
            picture.seek(page_number - 1)
            image = ImageOps.exif_transpose(picture) or picture
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
    except PreviewError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise PreviewError("无法打开图片") from e
    if image.width > width:
        image = image.resize(
            (width, max(1, round(image.height * width / image.width))), Image.Resampling.LANCZOS
        )
    return _finish_png(image, stamp)


def render_ofd_png(
    path: Path, page_number: int, width: int = 1000, stamp: Stamp | None = None
) -> bytes:
    """PNG of one OFD page (its text at its positions and its pictures), ``width`` pixels
    wide, with the stamp, if any."""
    try:
        image = render_ofd_page(path, page_number, width=width, font_path=font_path())
    except ExtractionError as e:
        raise PreviewError(f"无法显示 OFD 第 {page_number} 页") from e
    return _finish_png(image, stamp)


def _finish_png(image: Any, stamp: Stamp | None) -> bytes:
    """The rendered page as PNG bytes, with the viewer's stamp drawn on when there is one."""
    if stamp is not None:
        image = stamp_image(image, stamp)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def stamp_tile_png(stamp: Stamp) -> bytes:
    """The stamp once on a transparent tile, to repeat under text shown as HTML."""
    out = io.BytesIO()
    stamp_tile(stamp).save(out, format="PNG")
    return out.getvalue()


def _blend(image, overlay):
    from PIL import Image

    return Image.blend(image, overlay, 0.35)


def _term_boxes(page, terms: list[str]) -> list[tuple[float, float, float, float]]:
    boxes: list[tuple[float, float, float, float]] = []
    terms = [t for t in dict.fromkeys(t.strip() for t in terms) if t][:MAX_TERMS]
    if not terms:
        return boxes
    textpage = page.get_textpage()
    try:
        for term in terms:
            searcher = textpage.search(term, match_case=False, match_whole_word=False)
            try:
                while (found := searcher.get_next()) is not None:
                    start, count = found
                    for i in range(start, start + count):
                        box = textpage.get_charbox(i, loose=True)
                        if box and box[2] > box[0]:
                            boxes.append(box)
            finally:
                searcher.close()
    finally:
        textpage.close()
    return boxes
