"""Extraction speed and memory: PDFium vs pdfplumber on the corpus, a 500-page PDF, the rest.

    .venv/bin/python bench/extract.py            # everything (about a minute)
    .venv/bin/python bench/extract.py --pdf-only # the PDFium / pdfplumber table only

1. Every corpus PDF with a text layer: pages, seconds with pypdfium2 (what extract_pages
   uses) and with pdfplumber's extract_text, the speed-up, both CJK counts and their
   multiset overlap (shared characters / the larger total).
2. A generated 500-page Chinese text PDF: seconds, pages per second and peak RSS of a fresh
   interpreter that only extracts it.
3. A generated 50-slide Chinese PPTX (title, table, grouped text boxes, notes on each
   slide): seconds and slides per second.
4. Every other corpus file (DOCX, XLSX, XLS, DOC, text) and the OFD and PPT samples in
   tests/fixtures: seconds, pages, characters.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ is sys.path[0] when this runs as a script, and bench/tokenize.py would shadow the
# standard library's tokenize: put the project root there instead
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from indexer import IndexerError, detect_file_type, extract_pages  # noqa: E402

SHARED = Path(os.environ.get("EVIDENCE_SHARED_DIR") or ROOT.parent / "shared")
CORPUS = SHARED / "corpus" / "real"
OFD_SAMPLES = ROOT / "tests" / "fixtures" / "ofd"
PPT_SAMPLES = ROOT / "tests" / "fixtures" / "ppt"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def pdf_table() -> None:
    import pdfplumber

    logging.getLogger("pdfminer").setLevel(logging.ERROR)  # FontBBox chatter
    print(
        f"{'PDF':52} {'pages':>5} {'pdfium s':>9} {'plumber s':>9} {'x':>5}  CJK pdfium/plumber  overlap"
    )
    totals = [0, 0.0, 0.0]
    for path in sorted(CORPUS.glob("*.pdf")):
        try:
            t = time.perf_counter()
            pages = list(extract_pages(path, ocr=False))
            t_pdfium = time.perf_counter() - t
        except IndexerError:
            continue
        a = Counter(CJK.findall("".join(p.text for p in pages)))
        if not a:
            continue  # no Chinese text layer: nothing to compare
        t = time.perf_counter()
        with pdfplumber.open(path) as pdf:
            b = Counter()
            for page in pdf.pages:
                b.update(CJK.findall(page.extract_text() or ""))
                page.close()
        t_plumber = time.perf_counter() - t
        shared = sum((a & b).values()) / max(a.total(), b.total())
        totals[0] += len(pages)
        totals[1] += t_pdfium
        totals[2] += t_plumber
        print(
            f"{path.name[:52]:52} {len(pages):5} {t_pdfium:9.3f} {t_plumber:9.3f} "
            f"{t_plumber / t_pdfium:5.0f}  {a.total():6} / {b.total():6}   {shared:.4f}"
        )
    pages, t_pdfium, t_plumber = totals
    print(
        f"{'all':52} {pages:5} {t_pdfium:9.3f} {t_plumber:9.3f} {t_plumber / t_pdfium:5.0f}"
        f"  ({pages / t_pdfium:.0f} vs {pages / t_plumber:.0f} pages/s)"
    )


def big_pdf() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.pdf"
        c = canvas.Canvas(str(path))
        for n in range(1, 501):
            c.setFont("STSong-Light", 10)
            for i in range(45):
                c.drawString(
                    40, 800 - i * 17, f"第{n}页第{i}行 职业教育产教融合校企合作实训基地建设双师型"
                )
            c.showPage()
        c.save()
        script = (
            "import re, sys, time\n"
            "from indexer import extract_pages\n"
            "t = time.perf_counter(); n = chars = 0\n"
            "for page in extract_pages(sys.argv[1]):\n"
            "    n += 1; chars += len(page.text)\n"
            "s = time.perf_counter() - t\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print(n, chars, s, int(hwm) // 1024)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
        n, chars, seconds, peak = int(out[0]), int(out[1]), float(out[2]), int(out[3])
        size = path.stat().st_size / 1e6
        print(
            f"500-page text PDF ({size:.1f} MB, {chars} chars): {seconds:.2f} s, "
            f"{n / seconds:.0f} pages/s, peak RSS {peak} MB (fresh interpreter, indexer imported)"
        )


def slides_pptx() -> None:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for n in range(1, 51):
        slide = prs.slides.add_slide(prs.slide_layouts[5])
        slide.shapes.title.text = f"第{n}部分 实训基地建设与校企合作情况汇报"
        table = slide.shapes.add_table(6, 3, Inches(0.5), Inches(1.5), Inches(9), Inches(2)).table
        for r in range(6):
            for c in range(3):
                table.cell(r, c).text = f"专业群{r}指标{c} 双师型教师比例"
        group = slide.shapes.add_group_shape()
        for k in range(4):
            box = group.shapes.add_textbox(Inches(0.5 + 2 * k), Inches(4), Inches(2), Inches(1))
            box.text_frame.text = f"产教融合项目{k}：订单班、现代学徒制、技能大赛获奖"
        slide.notes_slide.notes_text_frame.text = "讲稿：说明建设成效与下一步计划。" * 5
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "50.pptx"
        prs.save(str(path))
        t = time.perf_counter()
        pages = list(extract_pages(path))
        seconds = time.perf_counter() - t
        chars = sum(len(p.text) for p in pages)
        size = path.stat().st_size / 1e3
        print(
            f"50-slide PPTX ({size:.0f} KB, {len(pages)} pages, {chars} chars): "
            f"{seconds:.2f} s, {len(pages) / seconds:.0f} slides/s"
        )


def other_files() -> None:
    print(f"{'file':60} {'type':5} {'s':>6} {'pages':>5} {'chars':>7}")
    samples = [*sorted(OFD_SAMPLES.glob("*.ofd")), *sorted(PPT_SAMPLES.glob("*.ppt"))]
    for path in [*sorted(CORPUS.iterdir()), *samples]:
        if path.suffix in (".pdf", ".jpg", ".md"):
            continue
        file_type = detect_file_type(path)
        t = time.perf_counter()
        try:
            pages = list(extract_pages(path, file_type))
            result = f"{len(pages):5} {sum(len(p.text) for p in pages):7}"
        except IndexerError as e:
            result = f"{type(e).__name__}: {e}"
        print(f"{path.name[:60]:60} {file_type:5} {time.perf_counter() - t:6.3f} {result}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf-only", action="store_true")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        sys.exit(f"missing {CORPUS} (set EVIDENCE_SHARED_DIR)")
    pdf_table()
    if not args.pdf_only:
        print()
        big_pdf()
        print()
        slides_pptx()
        print()
        other_files()


if __name__ == "__main__":
    main()
