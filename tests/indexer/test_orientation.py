"""Photos and scans lying sideways or upside down are turned upright before OCR reads them."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from indexer import Page, extract_pages
from indexer._ocr import DEFAULT_SETTINGS, OcrEngine, OcrText, ocr_page

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
LINES = ["关于公布现代学徒制试点名单的通知", "迅达电梯订单班已通过验收", "实训基地建设2023年"]
TEXT = "\n".join(LINES)


def _font(size: int):
    from PIL import ImageFont

    if not FONT.exists():
        pytest.skip(f"CJK font missing: {FONT} (Debian package fonts-wqy-zenhei)")
    return ImageFont.truetype(str(FONT), size)


def _page(scale: int = 1):
    """A white grayscale page with LINES drawn upright, ``scale`` times 1000 x 420 pixels."""
    from PIL import Image, ImageDraw

    font = _font(40 * scale)
    image = Image.new("L", (1000 * scale, 420 * scale), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(LINES):
        draw.text((80 * scale, (80 + 100 * i) * scale), line, font=font, fill=0)
    return image


def _turned(image, clockwise: int):
    """The image turned clockwise by 90, 180 or 270 degrees (PIL turns counter-clockwise)."""
    return image.rotate(-clockwise, expand=True) if clockwise else image.copy()


@pytest.fixture(scope="module")
def page():
    return _page()


@pytest.mark.parametrize("clockwise", [0, 90, 180, 270])
def test_turned_page_is_read_upright(page, clockwise: int):
    # turned back by the rest of the full turn: a page turned 90° clockwise needs 270° more
    assert ocr_page(_turned(page, clockwise)) == OcrText(TEXT, (360 - clockwise) % 360)


def test_vertical_text_is_read_column_by_column_from_the_right():
    from PIL import Image, ImageDraw

    # 竖排: characters upright, one under the other, columns from right to left; read as a
    # page lying sideways, turned a quarter counter-clockwise, the columns become lines
    font = _font(40)
    image = Image.new("L", (500, 700), 255)
    draw = ImageDraw.Draw(image)
    columns = ["关于公布现代学徒制", "迅达电梯订单班已通过", "实训基地建设"]
    for i, column in enumerate(columns):
        for j, char in enumerate(column):
            draw.text((380 - 120 * i, 40 + 48 * j), char, font=font, fill=0)
    assert ocr_page(image) == OcrText("\n".join(columns), 270)


def test_without_orientation_an_upside_down_page_is_not_read(page):
    # what the orientation step is for: the recogniser reads nothing of upside-down lines
    engine = OcrEngine(dataclasses.replace(DEFAULT_SETTINGS, detect_orientation=False))
    assert "订单班" not in engine.image_to_text(_turned(page, 180))
    assert engine.read_text(_turned(page, 180)).rotation == 0


def test_photo_with_exif_orientation(tmp_path: Path):
    from PIL import Image

    # a phone held sideways stores the pixels sideways and says so in the EXIF Orientation
    # tag (6: turn 90° clockwise to show); 4400 pixels long, so the JPEG is decoded at 1/2
    stored = _turned(_page(scale=4).crop((0, 0, 4400, 1680)), 270)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "证书照片.jpg"
    stored.save(photo, "JPEG", quality=90, exif=exif)
    with Image.open(photo) as check:
        assert check.size == (1680, 4400)  # really stored sideways
    # upright once the tag is applied: OCR had nothing left to turn
    assert list(extract_pages(photo)) == [Page(1, TEXT, "ocr", 0)]


def test_photo_and_scan_turned_without_a_tag(page, tmp_path: Path):
    photo = tmp_path / "倒置照片.png"
    _turned(page, 180).save(photo)
    assert list(extract_pages(photo)) == [Page(1, TEXT, "ocr", 180)]
    scan = tmp_path / "横放扫描件.pdf"
    _turned(page, 90).save(scan, "PDF", resolution=150)
    assert list(extract_pages(scan)) == [Page(1, TEXT, "ocr", 270)]


def test_sandbox_keeps_the_rotation(page, tmp_path: Path):
    from indexer import ExtractionSandbox

    scan = tmp_path / "横放扫描件.pdf"
    _turned(page, 270).save(scan, "PDF", resolution=150)
    # the child process sends pages back one by one: the rotation travels with them
    assert ExtractionSandbox().extract_pages(scan, "pdf") == [Page(1, TEXT, "ocr", 90)]


def test_uploaded_rotated_photos_are_found_by_a_phrase(
    make_framework, make_user, login, invoke, page
):
    framework_id = make_framework()["framework_id"]
    client = login(make_user("staff"))

    def jpeg(image) -> io.BytesIO:
        data = io.BytesIO()
        image.convert("RGB").save(data, "JPEG", quality=90)
        data.seek(0)
        return data

    response = client.post(
        "/upload",
        data={
            "framework_id": str(framework_id),
            "files": [
                (jpeg(_turned(page, 90)), "2.3.5-2 横拍证书.jpg"),
                (jpeg(_turned(page, 180)), "2.3.5-3 倒拍证书.jpg"),
            ],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and response.get_json()["accepted"] == 2
    result = invoke("search", "迅达电梯订单班", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert sorted((h["code"], h["pages"]) for h in hits) == [("2.3.5-2", [1]), ("2.3.5-3", [1])]
    # the turn is kept with the version and shown on the document page
    sideways = next(h for h in hits if h["code"] == "2.3.5-2")
    page_html = client.get(f"/documents/{sideways['document_id']}").get_data(as_text=True)
    assert "自动转正" in page_html and "第 1 页（270°）" in page_html
