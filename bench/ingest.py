"""Ingestion throughput and memory: the app's pipeline against a naive one on the same PDFs.

    .venv/bin/python bench/ingest.py [--pdfs 40] [--pages 25] [--big-pages 500]

Builds (once, cached under bench/.cache) multi-page Chinese PDFs with a real text layer from
the seed documents, then:
  1. ingests them through the app's own ingestion (store, extract with pypdfium2, tokenize,
     index with the configured backend, SQLite database) and prints pages/s;
  2. runs the naive pipeline on the same files (pdfplumber extract_text + jieba.lcut + a
     Whoosh writer, no app) and prints pages/s and the ratio;
  3. ingests one big PDF in a child process and prints its peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "ingest"
SEEDS = ROOT.parent / "shared" / "seeds"


def seed_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = " ".join(line.replace("\t", " ").split())
            if len(line) >= 8:
                lines.append(line)
    if not lines:
        raise SystemExit(f"seed documents not found in {SEEDS}")
    return lines


FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


def _register_font() -> str:
    """An embedded TrueType subset like real PDFs carry (WenQuanYi Zen Hei from Debian's
    fonts-wqy-zenhei); ReportLab's non-embedded STSong otherwise, which makes PDFium look up a
    substitute font on every page and is not what evidence files look like."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_FILE.exists():
        pdfmetrics.registerFont(TTFont("ZenHei", str(FONT_FILE), subfontIndex=0))
        return "ZenHei"
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def write_pdf(path: Path, pages: int, rng: random.Random, lines: list[str]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    font = _register_font()
    c = canvas.Canvas(str(path), pagesize=A4)
    for number in range(pages):
        c.setFont(font, 10.5)
        y = 800
        while y > 60:
            line = rng.choice(lines)
            for start in range(0, min(len(line), 150), 50):
                c.drawString(50, y, line[start : start + 50])
                y -= 16
                if y <= 60:
                    break
        c.drawString(280, 30, f"- {number + 1} -")
        c.showPage()
    c.save()


def build_corpus(pdfs: int, pages: int, big_pages: int) -> tuple[list[Path], Path]:
    folder = CACHE / f"{pdfs}x{pages}-{'embedded' if FONT_FILE.exists() else 'cid'}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    lines = seed_lines()
    files = []
    for i in range(pdfs):
        path = folder / f"2.{i % 7 + 1}.{i % 5 + 1}-{i + 1} 佐证材料{i + 1:03d}.pdf"
        if not path.exists():
            write_pdf(path, pages, rng, lines)
        files.append(path)
    big = folder.parent / f"big-{big_pages}-{folder.name.rsplit('-', 1)[1]}.pdf"
    if not big.exists():
        write_pdf(big, big_pages, rng, lines)
    return files, big


def app_pipeline(files: list[Path], backend: str) -> tuple[float, int]:
    from config import Config
    from evidence_app import create_app, get_runtime
    from evidence_app.documents.ingest import ingest_files
    from storage import upgrade_database

    with tempfile.TemporaryDirectory() as home:
        config = Config(
            {
                "EVIDENCE_HOME": home,
                "SEARCH_BACKEND": backend,
                "SECRET_KEY": "b",
                "LOG_LEVEL": "WARNING",
            }
        )
        app = create_app(config)
        runtime = get_runtime(app)
        upgrade_database(runtime.engine)
        session = runtime.session()
        # a long-running service has its modules imported and dictionary loaded: warm up
        from indexer import extract_pages, tokenize

        tokenize("预热 词典")
        runtime.index.count()
        list(extract_pages(files[0]))
        start = time.perf_counter()
        report = ingest_files(runtime, files, framework_id=None)
        elapsed = time.perf_counter() - start
        pages = sum(d.page_count for d in _documents(session))
        bad = [d for d in report.documents if d["status"] != "indexed"]
        if bad:
            raise SystemExit(f"not indexed: {bad[:3]}")
        session.close()
        runtime.close()
    return elapsed, pages


def _documents(session):
    from sqlalchemy import select

    from storage import Document

    return session.scalars(select(Document)).all()


def naive_pipeline(files: list[Path]) -> tuple[float, int]:
    import jieba
    import pdfplumber
    from whoosh import fields, index

    jieba.setLogLevel(60)
    jieba.initialize()
    with tempfile.TemporaryDirectory() as tmp:
        schema = fields.Schema(
            path=fields.ID(stored=True), page=fields.NUMERIC(stored=True), content=fields.TEXT
        )
        ix = index.create_in(tmp, schema)
        start = time.perf_counter()
        pages = 0
        writer = ix.writer()
        for path in files:
            with pdfplumber.open(str(path)) as pdf:
                for number, page in enumerate(pdf.pages, start=1):
                    text = page.extract_text() or ""
                    writer.add_document(
                        path=str(path), page=number, content=" ".join(jieba.lcut(text))
                    )
                    pages += 1
                    page.close()
        writer.commit()
        elapsed = time.perf_counter() - start
    return elapsed, pages


def big_child(big: Path, backend: str) -> None:
    """Run in a child process: ingest one big PDF, print pages and peak RSS."""
    elapsed, pages = app_pipeline([big], backend)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"pages": pages, "seconds": elapsed, "peak_rss_mb": peak_kb / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pdfs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=25)
    parser.add_argument("--big-pages", type=int, default=500)
    parser.add_argument("--backend", default="whoosh", choices=["whoosh", "tantivy"])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big_child(args.child, args.backend)
        return
    files, big = build_corpus(args.pdfs, args.pages, args.big_pages)
    print(
        f"corpus: {len(files)} PDFs x {args.pages} pages (text layer), big PDF {args.big_pages} pages"
    )

    app_s, app_pages = app_pipeline(files, args.backend)
    app_rate = app_pages / app_s
    print(
        f"app ingestion ({args.backend}):   {app_pages} pages in {app_s:6.2f} s = {app_rate:7.1f} pages/s"
    )
    naive_s, naive_pages = naive_pipeline(files)
    naive_rate = naive_pages / naive_s
    print(
        f"naive pipeline (pdfplumber+jieba+whoosh): {naive_pages} pages in {naive_s:6.2f} s = {naive_rate:7.1f} pages/s"
    )
    print(f"ratio app / naive: {app_rate / naive_rate:5.1f}x")

    out = subprocess.run(
        [sys.executable, __file__, "--child", str(big), "--backend", args.backend],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"big PDF: {child['pages']} pages in {child['seconds']:.2f} s "
        f"({child['pages'] / child['seconds']:.1f} pages/s), peak RSS {child['peak_rss_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
