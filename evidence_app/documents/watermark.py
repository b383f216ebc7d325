"""Watermarks: who sees a document's pages carries their name on them.

Every page image and every downloaded PDF or image of an outside expert (role ``expert``),
and of every user while an admin has turned on ``watermark_all``, carries a visible stamp:
the viewer's name, the time in Beijing time and 仅供评审使用. Page images and pictures get it
drawn diagonally, semi-transparent and repeated over the whole surface, so that cropping
cannot remove it; PDFs get a text stamp on every page (``_pdf_stamp``) that text extraction
reads back. Other formats (DOCX, XLSX, ZIP…) cannot carry a stamp that survives opening the
file in an editor, so they are not handed out where a stamp is required
(``documents.downloads``); their text is readable in the viewer.

The font: Pillow needs a font file with Chinese glyphs to draw the stamp, and production
servers are plain Debian without fonts-wqy-zenhei or fonts-noto-cjk, with nothing downloaded
at run time. The CID font STSong-Light that reportlab names in PDFs has no glyphs of its own
(the PDF viewer supplies them), and pdfium ships only Latin fonts, so neither can draw Chinese
into a PNG. The glyphs therefore come with the pip dependencies: the wheel
``pylopdf-fonts-zh-cn`` carries Noto Sans SC (SIL Open Font License 1.1) as a plain file.
Fonts installed on the system are only a fallback if that file is missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pylopdf_fonts_zh_cn
from sqlalchemy.orm import Session

from evidence_app.admin import settings
from evidence_app.documents import _pdf_stamp
from evidence_app.documents._pdf_stamp import PdfStampError
from storage import User

if TYPE_CHECKING:
    from PIL import Image

# Asia/Shanghai has kept UTC+8 without daylight saving since 1991: a fixed offset is exact and
# needs no tz database on the server
BEIJING = timezone(timedelta(hours=8), "北京时间")
PURPOSE = "仅供评审使用"

# pictures that are stamped on download, by file type (the extension the upload recorded)
IMAGE_FORMATS = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "jpe": "JPEG",
    "jfif": "JPEG",
    "png": "PNG",
    "bmp": "BMP",
    "gif": "GIF",
    "tif": "TIFF",
    "tiff": "TIFF",
    "webp": "WEBP",
}
STAMPABLE = frozenset({"pdf", *IMAGE_FORMATS})

ANGLE = 30  # degrees, rising to the right
COLOUR = (190, 30, 30)
GREY = 90  # for greyscale pictures
OPACITY = 0.24

SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

__all__ = [
    "BEIJING",
    "IMAGE_FORMATS",
    "STAMPABLE",
    "PdfStampError",
    "Stamp",
    "WatermarkError",
    "make_stamp",
    "stamp_for",
    "stamp_image",
    "stamp_image_file",
    "stamp_pdf_file",
    "stamp_tile",
]


class WatermarkError(ValueError):
    """The stamp cannot be put on this file; the message (Chinese) says why."""


@dataclass(frozen=True)
class Stamp:
    """What is written on the pages: who, when, what for."""

    name: str
    at: datetime  # in Beijing time

    @property
    def time_label(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} 北京时间"

    @property
    def text(self) -> str:
        return f"{self.name}  {self.time_label}  {PURPOSE}"


def make_stamp(user: User, now: datetime | None = None) -> Stamp:
    """The stamp for ``user`` now (display name, else user name)."""
    now = now or datetime.now(UTC)
    name = (user.display_name or "").strip() or user.username
    return Stamp(name=name, at=now.astimezone(BEIJING))


def stamp_for(session: Session, user: User | None) -> Stamp | None:
    """The stamp ``user``'s views and downloads carry, or None: experts always, everyone
    while ``watermark_all`` is on."""
    if user is None:
        return None
    if user.role == "expert" or settings.watermark_all(session):
        return make_stamp(user)
    return None


# -- pictures --------------------------------------------------------------------------------


def font_path() -> Path:
    """A font file with Chinese glyphs (see the module docstring for why this one)."""
    bundled = Path(pylopdf_fonts_zh_cn.sans_path())
    if bundled.is_file():
        return bundled
    for candidate in SYSTEM_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise WatermarkError("服务器缺少中文字体，无法加盖水印（请重新安装依赖 pylopdf-fonts-zh-cn）")


@lru_cache(maxsize=32)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(font_path()), size)


def _text_tile(text: str, font_size: int) -> tuple[Image.Image, int, int]:
    """The text in white on black, turned by ANGLE; and its width and height unturned."""
    from PIL import Image, ImageDraw

    font = _font(font_size)
    left, top, right, bottom = font.getbbox(text)
    text_w, text_h = right - left, bottom - top
    pad = font_size // 2
    tile = Image.new("L", (text_w + 2 * pad, text_h + 2 * pad), 0)
    ImageDraw.Draw(tile).text((pad - left, pad - top), text, font=font, fill=255)
    return tile.rotate(ANGLE, expand=True, resample=Image.Resampling.BICUBIC), text_w, text_h


def _stamp_mask(size: tuple[int, int], text: str) -> Image.Image:
    """A greyscale mask of the stamp text repeated diagonally over ``size``."""
    from PIL import Image

    width, height = size
    font_size = max(10, round(max(width, height) / 50))
    tile, text_w, text_h = _text_tile(text, font_size)
    mask = Image.new("L", size, 0)
    # tile centres on a grid turned by ANGLE: along the text, then row after row
    along = (math.cos(math.radians(ANGLE)), -math.sin(math.radians(ANGLE)))
    across = (math.sin(math.radians(ANGLE)), math.cos(math.radians(ANGLE)))
    step_along = text_w + 3 * font_size
    step_across = 4 * text_h
    reach = math.hypot(width, height) / 2 + max(tile.size)
    rows = int(reach / step_across) + 1
    cols = int(reach / step_along) + 1
    for j in range(-rows, rows + 1):
        shift = (j % 2) * step_along / 2
        for i in range(-cols, cols + 1):
            u, v = i * step_along + shift, j * step_across
            cx = width / 2 + u * along[0] + v * across[0]
            cy = height / 2 + u * along[1] + v * across[1]
            x, y = round(cx - tile.width / 2), round(cy - tile.height / 2)
            if x < width and y < height and x + tile.width > 0 and y + tile.height > 0:
                mask.paste(255, (x, y, x + tile.width, y + tile.height), tile)
    return mask.point(lambda value: round(value * OPACITY))


def stamp_image(image: Image.Image, stamp: Stamp) -> Image.Image:
    """``image`` with the stamp drawn on (a new image; greyscale stays greyscale)."""
    if image.mode in ("1", "L", "I;16", "I", "F"):
        base = image.convert("L")
        colour: int | tuple[int, ...] = GREY
    elif image.mode in ("LA", "La"):
        base = image.convert("LA")
        colour = (GREY, 255)
    elif image.mode in ("RGBA", "RGBa", "PA") or "transparency" in image.info:
        base = image.convert("RGBA")
        colour = (*COLOUR, 255)
    else:
        base = image.convert("RGB")
        colour = COLOUR
    base.paste(colour, (0, 0, *base.size), _stamp_mask(base.size, stamp.text))
    return base


def stamp_tile(stamp: Stamp, font_size: int = 15) -> Image.Image:
    """A transparent picture holding the stamp once, turned, with room around it: repeated
    as a background it lays the stamp under text that a page shows as HTML."""
    from PIL import Image

    tile, text_w, text_h = _text_tile(stamp.text, font_size)
    width, height = tile.width + 2 * font_size, tile.height + 6 * text_h
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, ((width - tile.width) // 2, (height - tile.height) // 2), tile)
    picture = Image.new("RGBA", (width, height), (*COLOUR, 0))
    picture.putalpha(mask.point(lambda value: round(value * OPACITY)))
    return picture


def stamp_image_file(source: BinaryIO, out: BinaryIO, file_type: str, stamp: Stamp) -> None:
    """Write the picture in ``source`` with the stamp on every frame to ``out``, in its own
    format (JPEG stays JPEG, a multi-page TIFF stays a multi-page TIFF)."""
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    fmt = IMAGE_FORMATS.get(file_type.lower())
    if fmt is None:
        raise WatermarkError(f"无法在 {file_type} 文件上加盖水印")
    try:
        with Image.open(source) as picture:
            frames = [
                stamp_image(ImageOps.exif_transpose(frame) or frame, stamp)
                for frame in ImageSequence.Iterator(picture)
            ]
            options: dict[str, object] = {}
            if fmt == "JPEG":
                options = {"quality": 90}
                frames = [f.convert("RGB") if f.mode not in ("RGB", "L") else f for f in frames]
            elif fmt == "TIFF":
                options = {"compression": "tiff_deflate"}
            elif fmt in ("GIF", "WEBP") and "duration" in picture.info:
                options = {"duration": picture.info["duration"], "loop": 0}
            if len(frames) > 1 and fmt in ("TIFF", "GIF", "WEBP", "PNG"):
                options["save_all"] = True
                options["append_images"] = frames[1:]
            frames[0].save(out, format=fmt, **options)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise WatermarkError("图片无法读取或过大，无法加盖水印，请使用在线查看") from e


# -- PDFs ------------------------------------------------------------------------------------


def stamp_pdf_file(file: BinaryIO, stamp: Stamp, tmp_dir: Path | None = None) -> BinaryIO:
    """Stamp every page of the PDF in ``file`` (seekable, read-write, holding the original).
    The stamped PDF is ``file`` itself, with an incremental update appended, or, when the
    original has to be rewritten first (encrypted, broken cross-references), a new temporary
    file in ``tmp_dir``; the caller closes both."""
    try:
        return _pdf_stamp.stamp_pdf(file, stamp.text, tmp_dir)
    except PdfStampError as e:
        raise WatermarkError(str(e)) from e
