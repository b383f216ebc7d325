"""Search latency benchmark: p50/p95 of ``backend.search()`` with snippets, per backend.

Builds N documents of 2-20 KB (UTF-8) by recombining paragraphs of the seed texts, split
into pages of about 2 KB, with evidence codes, indicator codes and filter fields; runs 50
Chinese queries of 1-3 words against each backend (Whoosh, tantivy, postgres) and against a bare
Whoosh index (StandardAnalyzer, QueryParser, no app code) of the same text, and prints the
index build times. Documents and indexes are cached under bench/.cache/ (``--rebuild``).

Then the identifier queries: the document numbers of the seed texts (粤府〔2021〕28号, as
written, with other brackets and bare), each in about 1,400 of the documents while their
parts (2021, 28, 号) are in most: R-prec is the share of the top min(R, 20) that hold the
number as written (R = documents holding it; 1.0 = none holding only its parts ranks
above one holding it), with their p50/p95 (with snippets).

    .venv/bin/python bench/search.py              # 20,000 documents
    .venv/bin/python bench/search.py --docs 2000  # quicker
    .venv/bin/python bench/search.py --reuse      # indexes built by another version
    .venv/bin/python bench/search.py --profile whoosh  # cProfile of the queries
    .venv/bin/python bench/search.py --backends postgres \
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test  # schema bench_<docs>
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pickle
import pstats
import random
import re
import shutil
import statistics
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer import IndexDoc, Page, SearchQuery, open_index  # noqa: E402
from indexer._tokenize import has_word, segment  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
SEEDS = ROOT.parent / "shared" / "seeds"
PAGE_BYTES = 2000
QUERIES = 50
RUNS = 3  # timed runs of each query (after one warm-up run)


def load_paragraphs(seed_dir: Path) -> list[str]:
    paragraphs = []
    for path in sorted(seed_dir.glob("*.txt")):
        for para in re.split(r"\n\s*\n|\n(?=#)", path.read_text(encoding="utf-8")):
            para = para.strip()
            if len(para.encode()) >= 40:
                paragraphs.extend(_cut(para, 1500))
    return paragraphs


def _cut(text: str, size: int) -> list[str]:
    """Split long paragraphs (tables) at line ends into pieces of about ``size`` bytes."""
    out, buf = [], ""
    for line in text.splitlines(keepends=True):
        if buf and len((buf + line).encode()) > size:
            out.append(buf.strip())
            buf = ""
        buf += line
    if buf.strip():
        out.append(buf.strip())
    return out


def catalog_titles(seed_dir: Path) -> list[tuple[str, str]]:
    """(code, title) of the evidence catalog entries in the self-assessment table."""
    found = []
    for path in sorted(seed_dir.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(
            r"(\d+\.\d+\.\d+-\d+(?:-\d+)?)\s+([^\s\d][^\n\t]{3,40}?)(?=\s+\d+\.\d|\t|\n|$)", text
        ):
            found.append((m.group(1), m.group(2).strip()))
    return found


def make_docs(n: int, seed: int = 7) -> list[IndexDoc]:
    rng = random.Random(seed)
    paragraphs = load_paragraphs(SEEDS)
    titles = catalog_titles(SEEDS) or [("1.1.1-1", "佐证材料")]
    docs = []
    for doc_id in range(1, n + 1):
        target = rng.randint(2000, 20000)
        parts, size = [], 0
        while size < target:
            para = rng.choice(paragraphs)
            parts.append(para)
            size += len(para.encode()) + 2
        pages, buf = [], ""
        for para in parts:
            buf = f"{buf}\n\n{para}" if buf else para
            if len(buf.encode()) >= PAGE_BYTES:
                pages.append(buf)
                buf = ""
        if buf:
            pages.append(buf)
        code, title = rng.choice(titles)
        indicator = code.split("-")[0]
        levels = indicator.split(".")
        docs.append(
            IndexDoc(
                doc_id=doc_id,
                title=f"{code} {title}",
                pages=[Page(i + 1, text) for i, text in enumerate(pages)],
                code=code,
                entry_codes=[code],
                indicator_codes=[".".join(levels[: i + 1]) for i in range(len(levels))],
                framework_id=rng.choice([1, 2]),
                file_type=rng.choice(["pdf", "pdf", "docx", "xlsx"]),
                year=rng.choice([2021, 2022, 2023]),
                status=rng.choice(["indexed", "indexed", "reviewed"]),
            )
        )
    return docs


def make_queries(docs: list[IndexDoc], seed: int = 11) -> list[str]:
    """50 queries of 1-3 Chinese dictionary words taken from the documents' own words:
    70 % drawn by frequency (common words match most documents), 30 % from the vocabulary."""
    rng = random.Random(seed)
    sample = "".join(p.text for d in docs[:200] for p in d.pages)
    words = [
        w
        for w in segment(sample)
        if len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w) and has_word(w)
    ]
    common = sorted(set(words))
    queries = []
    while len(queries) < QUERIES:
        k = rng.choice([1, 1, 2, 2, 3])
        queries.append(
            " ".join(rng.choice(words if rng.random() < 0.7 else common) for _ in range(k))
        )
    return queries


def cached_docs(n: int) -> list[IndexDoc]:
    path = CACHE / f"docs-{n}.pickle"
    if path.exists():
        return pickle.loads(path.read_bytes())
    docs = make_docs(n)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(docs, protocol=pickle.HIGHEST_PROTOCOL))
    return docs


def code_digest() -> str:
    """Hash of the indexer code and dictionary: a cached index is stale when it changes."""
    digest = hashlib.sha256()
    names = ["_tokenize.py", "_backend.py", "_snippets.py", "_whoosh.py", "_tantivy.py"]
    for path in [ROOT / "indexer" / n for n in names] + [ROOT / "indexer/data/domain_words.txt"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def build(
    kind: str, n: int, docs: list[IndexDoc], rebuild: bool, reuse: bool = False
) -> tuple[Path, float, bool]:
    """Index directory, build seconds, and whether it came from the cache.

    ``reuse``: the newest cached index of this kind and size, even if it was built by
    other indexer code (a change to searching only; the backend refuses another layout).
    """
    version = "bare" if kind == "bare-whoosh" else code_digest()
    if kind == "postgres":
        version += hashlib.sha256((ROOT / "indexer/_postgres.py").read_bytes()).hexdigest()[:6]
    path = CACHE / f"index-{kind}-{n}-{version}"
    stamp = path / "bench-build.json"
    if reuse and not stamp.exists() and not rebuild:
        built = sorted(
            CACHE.glob(f"index-{kind}-{n}-*/bench-build.json"), key=lambda p: p.stat().st_mtime
        )
        if built:
            stamp = built[-1]
            path = stamp.parent
            print(f"  {kind}: reusing {path.name}, built by other indexer code", file=sys.stderr)
    if stamp.exists() and not rebuild:
        return path, json.loads(stamp.read_text())["seconds"], True
    shutil.rmtree(path, ignore_errors=True)
    started = time.perf_counter()
    if kind == "bare-whoosh":
        build_bare_whoosh(path, docs)
    else:
        with open_index(kind, location(kind, path, fresh=True)) as index:
            index.add(docs)
        path.mkdir(parents=True, exist_ok=True)  # postgres: only the stamp is kept here
    seconds = time.perf_counter() - started
    stamp.write_text(json.dumps({"seconds": seconds}))
    return path, seconds, False


#: --postgres-url: the postgres backend's index goes in the schema bench_<docs> there.
POSTGRES_URL = ""


def location(kind: str, path: Path, fresh: bool = False) -> str | Path:
    """Where ``open_index`` finds the index: ``path``, or for postgres a database URL."""
    if kind != "postgres":
        return path
    if not POSTGRES_URL:
        sys.exit("--postgres-url is needed for the postgres backend")
    from sqlalchemy import create_engine, text

    schema = "bench_" + path.name.split("-")[2]
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        if fresh:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"


def build_bare_whoosh(path: Path, docs: list[IndexDoc]) -> None:
    """Whoosh as it comes: StandardAnalyzer, one record per document, stored text."""
    from whoosh import index
    from whoosh.fields import ID, TEXT, Schema

    path.mkdir(parents=True)
    schema = Schema(doc_id=ID(stored=True), title=TEXT(stored=True), content=TEXT(stored=True))
    ix = index.create_in(str(path), schema)
    writer = ix.writer(limitmb=256)
    for d in docs:
        writer.add_document(
            doc_id=str(d.doc_id), title=d.title, content="\n".join(p.text for p in d.pages)
        )
    writer.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


@dataclass
class Timings:
    """Query times in ms: the first run of each query (a new process: nothing of the index
    in the backend's caches yet, beyond what earlier queries read), then RUNS more; with
    ``cold``, Whoosh's cache of decoded postings emptied before every query."""

    first: list[float]
    warm: list[float]
    mean_total: float
    tops: list[list[int]]


def time_backend(
    kind: str, path: Path, queries: list[str], profile: Path | None = None, cold: bool = False
) -> Timings:
    """Times of ``backend.search()`` with snippets, mean total and each query's top 20 doc
    ids; ``profile``: cProfile of the timed runs written there."""
    profiler = cProfile.Profile() if profile else None
    with open_index(kind, location(kind, path)) as index:
        cache = getattr(index, "_postings", None) if cold else None
        first, samples, totals, tops = [], [], [], []
        for q in queries:
            if cache is not None:
                cache.clear()
            started = time.perf_counter()
            result = index.search(SearchQuery(q, limit=20))
            first.append((time.perf_counter() - started) * 1000)
            tops.append([h.doc_id for h in result.hits])
        if profiler:
            profiler.enable()
        for _ in range(RUNS):
            for q in queries:
                if cache is not None:
                    cache.clear()
                started = time.perf_counter()
                result = index.search(SearchQuery(q, limit=20))
                samples.append((time.perf_counter() - started) * 1000)
                totals.append(result.total)
        if profiler:
            profiler.disable()
    if profiler and profile:
        profiler.dump_stats(str(profile))
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(40)
    return Timings(first, samples, statistics.mean(totals), tops)


# -- identifier queries ----------------------------------------------------------------------

_DOC_NUMBER = re.compile(r"([\u4e00-\u9fff]{2,8})([〔\[(（【]\d{4}[〕\])）】]\d{1,4}号)")
_OTHER_BRACKETS = {"〔": "[]", "[": "()", "(": "〔〕", "（": "[]", "【": "〔〕"}


def identifier_queries() -> list[str]:
    """The document numbers of the seed texts: as written, with other brackets, bare."""
    found = set()
    for path in sorted(SEEDS.glob("*.txt")):
        found.update(_DOC_NUMBER.findall(path.read_text(encoding="utf-8")))
    queries = []
    for issuer, number in sorted(found):
        other = _OTHER_BRACKETS[number[0]]
        close = number.index(next(c for c in number[1:] if not c.isdigit()))
        rebracketed = other[0] + number[1:close] + other[1] + number[close + 1 :]
        queries += [issuer + number, issuer + rebracketed, number]
    return list(dict.fromkeys(queries))


def holders(docs: list[IndexDoc], queries: list[str]) -> list[set[int]]:
    """For each identifier query, the documents holding it as written (brackets, spaces
    and case as ``bench/quality.py``'s ground truth allows)."""
    quality = _quality_module()
    texts = [
        (d.doc_id, quality.truth_form(d.title + "\n" + "\n".join(p.text for p in d.pages)).lower())
        for d in docs
    ]
    out = []
    for q in queries:
        matcher = quality.identifier_matcher(unicodedata.normalize("NFKC", q).lower())
        out.append({doc_id for doc_id, text in texts if matcher(text)})
    return out


def _quality_module():  # bench/quality.py (not a package): its ground truth
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_quality", ROOT / "bench" / "quality.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quality"] = module
    spec.loader.exec_module(module)
    return module


def r_precision(relevant: set[int], top: list[int]) -> float:
    r = min(len(relevant), 20)
    return len(relevant & set(top[:r])) / r


def time_bare_whoosh(path: Path, queries: list[str]) -> tuple[list[float], float]:
    from whoosh import index
    from whoosh.qparser import MultifieldParser

    ix = index.open_dir(str(path))
    parser = MultifieldParser(["title", "content"], ix.schema)
    samples, totals = [], []
    with ix.searcher() as searcher:
        for q in queries:
            searcher.search(parser.parse(q), limit=20)
        for _ in range(RUNS):
            for q in queries:
                started = time.perf_counter()
                results = searcher.search(parser.parse(q), limit=20)
                total = len(results)
                samples.append((time.perf_counter() - started) * 1000)
                totals.append(total)
    return samples, statistics.mean(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20000, help="number of documents")
    parser.add_argument(
        "--backends", default="tantivy,whoosh,bare-whoosh", help="comma-separated list"
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached indexes")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the newest cached index of each backend even if built by other indexer code",
    )
    parser.add_argument("--profile", default="", help="cProfile the queries of this backend")
    parser.add_argument(
        "--cold", action="store_true", help="empty Whoosh's posting cache before every query"
    )
    parser.add_argument("--no-identifiers", action="store_true", help="skip the identifier queries")
    parser.add_argument("--postgres-url", default="", help="database for the postgres backend")
    args = parser.parse_args()
    global POSTGRES_URL
    POSTGRES_URL = args.postgres_url
    if not SEEDS.is_dir():
        sys.exit(f"seed texts not found at {SEEDS}")

    started = time.perf_counter()
    docs = cached_docs(args.docs)
    size = sum(len(p.text.encode()) for d in docs for p in d.pages)
    pages = sum(len(d.pages) for d in docs)
    print(
        f"{len(docs)} documents, {pages} pages, {size / 1e6:.1f} MB of text "
        f"({time.perf_counter() - started:.1f} s to load)"
    )
    queries = make_queries(docs)
    print(f"{len(queries)} queries, e.g. {' | '.join(queries[:6])}")
    id_queries = [] if args.no_identifiers else identifier_queries()
    truth = holders(docs, id_queries) if id_queries else []
    print(
        f"{'backend':<12} {'build s':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'hits/q':>8} "
        f"{'1st p50':>8} {'1st p95':>8}"
    )
    kinds = args.backends.split(",")
    identifier_rows = []
    for kind in kinds:
        path, seconds, cached = build(kind, args.docs, docs, args.rebuild, args.reuse)
        first: list[float] = []
        if kind == "bare-whoosh":
            samples, mean_total = time_bare_whoosh(path, queries)
        else:
            profile = CACHE / f"profile-{kind}.pstats" if args.profile == kind else None
            timed = time_backend(kind, path, queries, profile, args.cold)
            samples, mean_total, first = timed.warm, timed.mean_total, timed.first
            if id_queries:
                ids_timed = time_backend(kind, path, id_queries, cold=args.cold)
                precision = [
                    r_precision(rel, top) for rel, top in zip(truth, ids_timed.tops, strict=True)
                ]
                identifier_rows.append((kind, precision, ids_timed))
        p50, p95 = percentiles(samples)
        note = " (cached)" if cached else ""
        firsts = "".join(f" {v:>8.2f}" for v in percentiles(first)) if first else ""
        print(
            f"{kind:<12} {seconds:>9.1f} {p50:>8.2f} {p95:>8.2f} {max(samples):>8.2f} "
            f"{mean_total:>8.0f}{firsts}{note}"
        )
    if identifier_rows:
        sizes = sorted(len(rel) for rel in truth)
        print(
            f"\n{len(id_queries)} identifier queries, e.g. {' | '.join(id_queries[:3])}; "
            f"each held by {sizes[0]}-{sizes[-1]} documents"
        )
        print(
            f"{'backend':<12} {'R-prec':>8} {'perfect':>8} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'1st p50':>8} {'1st p95':>8}"
        )
        for kind, precision, ids_timed in identifier_rows:
            p50, p95 = percentiles(ids_timed.warm)
            f50, f95 = percentiles(ids_timed.first)
            perfect = sum(p == 1.0 for p in precision)
            print(
                f"{kind:<12} {statistics.mean(precision):>8.3f} {perfect:>4}/{len(precision):<3} "
                f"{p50:>8.2f} {p95:>8.2f} {f50:>8.2f} {f95:>8.2f}"
            )


if __name__ == "__main__":
    main()
