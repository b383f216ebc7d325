"""Watermark cost: stamping a PDF for an expert's download, time and peak memory.

    .venv/bin/python bench/watermark.py [--pages 100] [--scan-pages 100]

Builds (once, cached under bench/.cache/watermark) a text PDF of ``--pages`` pages (Chinese
text layer, reportlab) and a scan-like PDF of ``--scan-pages`` pages (one 2480x3508 JPEG per
page, about 1 MB each), then stamps each in a fresh child process exactly as a download does
(copy through the SHA-256 check into a temporary file, then ``watermark.stamp_pdf_file``) and
prints the seconds, the child's peak RSS and the sizes. A page image (1000 px wide, stamped)
is timed as well.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "watermark"


def text_pdf(path: Path, pages: int) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    for n in range(1, pages + 1):
        c.setFont("STSong-Light", 11)
        for row in range(45):
            c.drawString(
                60, 780 - row * 16, f"第{n}页第{row + 1}行 校企合作订单班人才培养方案与实施情况说明"
            )
        c.showPage()
    c.save()


def scan_pdf(path: Path, pages: int) -> None:
    from PIL import Image, ImageDraw
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    image = Image.new("L", (2480, 3508), 235)
    draw = ImageDraw.Draw(image)
    for y in range(200, 3300, 40):
        draw.rectangle([180, y, 2300, y + 14], fill=(y * 7) % 90)
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    for n in range(pages):
        page = image.copy()
        ImageDraw.Draw(page).text((200, 120), f"page {n}", fill=0)
        buffer = io.BytesIO()
        page.save(buffer, format="JPEG", quality=95)
        c.drawImage(ImageReader(io.BytesIO(buffer.getvalue())), 0, 0, 595, 842)
        c.showPage()
    c.save()


def child(path: str) -> None:
    """One stamping as a download does it; prints JSON."""
    import hashlib
    import shutil
    import tempfile

    from evidence_app.documents import watermark
    from storage import VerifyingReader

    data_path = Path(path)
    digest = hashlib.sha256()
    with data_path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    sha = digest.hexdigest()
    import pypdf  # noqa: F401 - loaded before the baseline, as in a running server
    import reportlab.pdfgen.canvas  # noqa: F401

    baseline = _peak_mb()
    start = time.perf_counter()
    stamp = watermark.Stamp("王专家", _now())
    with tempfile.TemporaryFile() as original:
        with VerifyingReader(data_path.open("rb"), sha) as source:
            shutil.copyfileobj(source, original, 1 << 20)
        original.flush()
        result = watermark.stamp_pdf_file(original, stamp)
        size = result.seek(0, 2)
    seconds = time.perf_counter() - start
    peak = _peak_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "bytes": size}))


def _peak_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss after exec still counts the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _now():
    from datetime import UTC, datetime

    from evidence_app.documents.watermark import BEIJING

    return datetime.now(UTC).astimezone(BEIJING)


def page_image(path: Path) -> float:
    from evidence_app.documents.preview import render_page_png
    from evidence_app.documents.watermark import Stamp

    stamp = Stamp("王专家", _now())
    render_page_png(path, 1, [], 1000, stamp)  # fonts and pdfium loaded
    start = time.perf_counter()
    for _ in range(5):
        render_page_png(path, 1, [], 1000, stamp)
    stamped = (time.perf_counter() - start) / 5
    start = time.perf_counter()
    for _ in range(5):
        render_page_png(path, 1, [], 1000, None)
    return stamped - (time.perf_counter() - start) / 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--scan-pages", type=int, default=100)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    cases = [
        (CACHE / f"text-{args.pages}.pdf", text_pdf, args.pages),
        (CACHE / f"scan-{args.scan_pages}.pdf", scan_pdf, args.scan_pages),
    ]
    for path, build, pages in cases:
        if not path.exists():
            build(path, pages)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(path)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print(
            f"{path.name}: {pages} pages, {path.stat().st_size / 1e6:.1f} MB -> "
            f"{result['bytes'] / 1e6:.1f} MB stamped in {result['seconds']:.2f} s, "
            f"peak RSS {result['peak_mb']:.0f} MB (after imports {result['baseline_mb']:.0f} MB)"
        )
    extra = page_image(cases[0][0])
    print(f"page image 1000 px: the stamp adds {extra * 1000:.0f} ms")


if __name__ == "__main__":
    main()
