"""Search quality: our search against the approaches peers ship, on the same documents.

    .venv/bin/python bench/quality.py                 # full corpus and query set
    .venv/bin/python bench/quality.py --quick         # the regression test's slice (seeds only)
    .venv/bin/python bench/quality.py --json out.json --systems ours-whoosh,fts5-trigram
    .venv/bin/python bench/quality.py --systems ours-whoosh,ours-postgres \
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Corpus (deterministic, nothing copied into the repository): the two seed texts in
``../shared/seeds`` (each row of the self-assessment table is a document titled with its
indicator; the mid-term report is cut at its headings and into paragraph groups) and the
real files in ``../shared/corpus/real`` extracted with our extractor (no OCR; files that fail
are skipped) and cut into parts of a few pages / 250-1000 characters, titled with the file
name and the part. Extracted text is cached under ``bench/.cache/quality``.

Queries (deterministic, from the text, written to ``bench/.cache/quality/queries.json``):
single words (jieba dictionary words found in 2-30 % of the documents, the framework's
title terms, words jieba's HMM makes up), multi-word (2-3 words of one document, ANDed),
quoted phrases (a 4-10 character span of a document, word boundaries ignored), known items
(a document number such as 粤府〔2021〕28号, an evidence title or a sentence fragment found in
exactly one document), mixed Chinese/Latin/digits (BIM, 2022年, 1+X证书, 1.1.1-3, a Latin
word with a Chinese one) and identifiers found anywhere in the corpus (document numbers with
their issuer as written, with other brackets (粤府[2021]28号 for 粤府〔2021〕28号) and bare
(〔2021〕28号), dates, numbers with a unit such as 30号, codes of letters and digits such as
GB/T 7714-2015; held by one document, an identifier is a known item too). The words of the
issue (产教融合, 双师型, 迅达电梯订单班, ...) are always in when the corpus has them.

Ground truth, from the text alone: a document's text is its title and pages, NFKC-normalised
and lowercased; in text from a PDF a line break between two Han characters is removed (the
page wrapped the line inside a word, the reader sees one word; in other files a line break
ends a paragraph or row and stays). A document is relevant to a word query when it contains
every query word as a substring, to a phrase query when it contains the phrase, and a known
item is the one document holding the string. A query word's Latin or digit ends must not run
on into more letters or digits (2022 is not found in 20220317, 1.1.1-1 not in 1.1.1-10). An
identifier is found as a reader takes it: any bracket for any bracket, spaces around brackets
and between a number and a Han character ignored, its ends not running on (58号 is not in
758号, 2023-04-14 not in 2023-04-14.0099).
Graded gains for nDCG: 1 for a relevant document, +1 when the query words occur 3 or more
times in it in total, +1 when every query word is in its title.

Metrics, means over the queries (per kind and overall):
- recall@20 = |relevant ∩ top 20| / min(|relevant|, 20): 1.0 means nothing a user could
  page to on the first result page is missing;
- P@10 = |relevant ∩ top 10| / min(10, |relevant|): a query with 3 relevant documents that
  returns all 3 on top scores 1.0, not 0.3;
- nDCG@10 with DCG = Σ (2^gain - 1) / log2(rank + 1) over the top 10, divided by the ideal;
- R-prec = |relevant ∩ top R| / R with R = min(|relevant|, 20): 1.0 when every relevant
  document comes before any other (no document holding only some parts of an identifier,
  2021 here and 28 there, ranks above one holding it as written);
- MRR over known-item queries (1 / rank of the item in the top 20, else 0);
- p50 / p95 of the query time in ms (search call only, no snippets; one warm-up pass).

Systems, built in the same run on the same documents in temporary directories:
- ours-whoosh, ours-tantivy (and ours-postgres, when asked for with --postgres-url):
  ``indexer.open_index`` with the framework's title terms added to the dictionary as the app
  does on import; table rows carry their indicator and evidence codes as the app's links
  would; the query text is passed as it is;
- whoosh-standard (paperless-ngx up to 2.x): title + content fields with Whoosh's
  StandardAnalyzer, MultifieldParser with AND, BM25F;
- tantivy-bigram (paperless-ngx 3 style, Lucene's CJK analyzer): NFKC + lowercase, every
  Han run as its overlapping character bigrams (a lone character as itself), Latin/digit
  runs whole, pre-tokenized (tantivy's own ngram tokenizer gives every gram position 0, so
  phrases could not match); a query word is the phrase of its grams, a one-character word
  any gram holding it; words ANDed over title and body, BM25;
- fts5-trigram: SQLite FTS5 ``tokenize='trigram'``, each query word (or quoted phrase)
  quoted and ANDed, ranked by bm25(); trigrams cannot match words of 1-2 characters, so
  those are matched with LIKE '%word%' (a scan, unranked when no word has 3 characters).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's indexer, whatever the venv has installed
    sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "quality"
SEED = 20240607
TOP = 20

#: Queries per kind: the full set and the regression test's slice.
FULL_COUNTS = {
    "single": 50,
    "multi": 40,
    "phrase": 35,
    "known": 40,
    "mixed": 35,
    "identifier": 40,
}
QUICK_COUNTS = {"single": 8, "multi": 6, "phrase": 5, "known": 7, "mixed": 4, "identifier": 6}
KINDS = tuple(FULL_COUNTS)

#: The issue's own examples: in the query set whenever some document has them.
ISSUE_QUERIES = [
    ("single", "产教融合"),
    ("single", "双师型"),
    ("single", "迅达电梯订单班"),
    ("single", "双高"),
    ("multi", "现代学徒制 试点"),
    ("mixed", "1+X证书"),
    ("mixed", "BIM"),
    ("mixed", "2022年"),
]

SYSTEMS = ("ours-whoosh", "ours-tantivy", "whoosh-standard", "tantivy-bigram", "fts5-trigram")
#: Run when asked for (--systems), with --postgres-url.
OPTIONAL_SYSTEMS = ("ours-postgres",)

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RUN = re.compile(f"[{_HAN}]+")
_WRAP = re.compile(f"(?<=[{_HAN}])[ \\t\\u3000]*\\n\\s*(?=[{_HAN}])")
_ALNUM = re.compile(r"[0-9a-z]")
_CODE = re.compile(r"\d+(?:\.\d+)+(?:-\d+)*")
#: Characters that follow a number (2022年, 10个, 〔2021〕28号): a word does not start with one.
#: Least cohesion (see QueryMaker.cohesion) of a word jieba's HMM made up, to be a query:
#: below it they are function characters glued to a neighbour (有个, 中仅, 每高).
MIN_COHESION = 5.25
_MEASURE = frozenset("年月日号个项名所万元次人位门届期批")
#: Brackets of a document number (粤府〔2021〕28号, [2021], (2021), 【2017】): interchangeable.
_BRACKETS = "〔〕[]()（）【】"
_OPEN_CLOSE = [("〔", "〕"), ("[", "]"), ("(", ")"), ("【", "】")]
#: Identifiers in the text (NFKC, case kept), for the identifier queries.
_ID_DOC_NUMBER = re.compile(
    rf"([{_HAN}]{{2,8}})?\s*([〔\[(（【]\s*\d{{4}}\s*[〕\])）】]\s*\d{{1,4}}\s*号)"
)
_ID_DATE = re.compile(
    r"(?<![0-9])(?:(?:19|20)\d\d年\d{1,2}月(?:\d{1,2}日)?|(?:19|20)\d\d-\d{1,2}-\d{1,2})(?![0-9])"
)
_ID_UNIT = re.compile(r"(?<![0-9.\-])\d{1,4}[号届期批]")
_ID_CODE = re.compile(
    r"(?<![0-9A-Za-z])[A-Za-z]{1,6}(?:/[A-Za-z])?\s?\d{2,}(?:[-.]\d+)*(?![0-9A-Za-z.])"
)


# -- documents --------------------------------------------------------------------------


@dataclass
class BenchDoc:
    """A document of the bench: what is indexed, and its text for the ground truth."""

    doc_id: int
    title: str
    pages: list[tuple[int, str]]
    source: str
    indicator_codes: list[str] = field(default_factory=list)
    entry_codes: list[str] = field(default_factory=list)
    nfkc_body: str = ""  # the pages, NFKC, PDF line wraps removed (case kept)
    nfkc: str = ""  # title + nfkc_body (case kept: queries are cut from it)
    text: str = ""  # nfkc lowercased: the ground truth's text
    title_text: str = ""

    def __post_init__(self) -> None:
        wraps = self.source.lower().endswith(".pdf")
        self.nfkc_body = truth_form(self.body, pdf=wraps)
        self.nfkc = truth_form(self.title) + "\n" + self.nfkc_body
        self.text = self.nfkc.lower()
        self.title_text = truth_form(self.title).lower()

    @property
    def body(self) -> str:
        return "\n".join(t for _, t in self.pages)


def truth_form(text: str, *, pdf: bool = False) -> str:
    """NFKC (case kept); in a PDF's text, a line break between Han characters removed: the
    page wrapped the line there, the reader sees one word (elsewhere a line break ends a
    paragraph or a table row and stays)."""
    text = unicodedata.normalize("NFKC", text)
    return _WRAP.sub("", text) if pdf else text


def seed_paths(shared: Path) -> tuple[Path, Path]:
    """(self-assessment table, mid-term report) among the seed texts."""
    table = report = None
    for path in sorted((shared / "seeds").glob("*.txt")):
        head = path.read_text(encoding="utf-8")[:2000]
        if "三级指标" in head and "佐证材料目录" in head:
            table = path
        else:
            report = path
    if table is None or report is None:
        sys.exit(f"seed texts (self-assessment table and report) not found in {shared / 'seeds'}")
    return table, report


def parse_framework(table: Path):  # -> evidence_app.frameworks.ParsedFramework
    """The seed table read by the app's own framework importer."""
    from evidence_app.frameworks import parse_framework_file

    return parse_framework_file(table, name=table.name)


def framework_words(table: Path) -> list[str]:
    """The dictionary terms the app adds when this framework is imported (framework_terms)."""
    from evidence_app.frameworks.operations import framework_terms

    parsed = parse_framework(table)
    titles = [i.name for i in parsed.walk()] + [e.title for i in parsed.walk() for e in i.entries]
    return sorted(framework_terms(titles))


def table_docs(table: Path, first_id: int) -> list[BenchDoc]:
    """One document per row of the self-assessment table, titled with its indicator."""
    by_row = {i.row_number: i for i in parse_framework(table).leaves}
    docs: list[BenchDoc] = []
    row_no, lines = "", []

    def flush() -> None:
        ind = by_row.get(row_no)
        if not lines or ind is None:
            return
        levels = ind.code.split(".")
        docs.append(
            BenchDoc(
                first_id + len(docs),
                f"{ind.code} {ind.name}",
                [(1, "\n".join(lines))],
                table.name,
                indicator_codes=[".".join(levels[: i + 1]) for i in range(len(levels))],
                entry_codes=list(dict.fromkeys(e.code for e in ind.entries)),
            )
        )

    for line in table.read_text(encoding="utf-8").splitlines():
        if line.startswith("序号\t"):
            continue
        m = re.match(r"(\d+)\t", line)
        if m:
            flush()
            row_no, lines = m.group(1), [line]
        elif row_no and line.strip():
            lines.append(line)
    flush()
    return docs


def report_docs(report: Path, first_id: int, rng: random.Random) -> list[BenchDoc]:
    """The report cut at its headings, long sections into paragraph groups."""
    sections: list[tuple[str, list[str]]] = [("目录", [])]
    for para in re.split(r"\n\s*\n", report.read_text(encoding="utf-8")):
        para = para.strip()
        if not para:
            continue
        if para.startswith("#"):
            sections.append((para.lstrip("#").strip(), []))
        else:
            sections[-1][1].append(para)
    docs: list[BenchDoc] = []
    for heading, paras in sections:
        groups = _group(paras, rng)
        for k, group in enumerate(groups, 1):
            title = heading if len(groups) == 1 else f"{heading}（{k}）"
            docs.append(BenchDoc(first_id + len(docs), title, [(1, group)], report.name))
    return docs


def _group(paras: list[str], rng: random.Random) -> list[str]:
    """Paragraphs joined into groups of 250-1000 characters (a short tail joins the last)."""
    groups: list[str] = []
    buf, target = "", rng.randint(250, 1000)
    for para in paras:
        buf = f"{buf}\n\n{para}" if buf else para
        if len(buf) >= target:
            groups.append(buf)
            buf, target = "", rng.randint(250, 1000)
    if buf:
        if groups and len(buf) < 150:
            groups[-1] += "\n\n" + buf
        else:
            groups.append(buf)
    return groups


def extracted_pages(corpus: Path, rebuild: bool = False) -> dict[str, list[tuple[int, str]]]:
    """The pages of every real file (extract_pages, no OCR), cached; failures left out."""
    from indexer import IndexerError, extract_pages

    files = sorted(p for p in corpus.iterdir() if p.is_file() and p.name != "SOURCES.md")
    key = hashlib.sha256()
    for p in files:
        key.update(f"{p.name}\0{p.stat().st_size}\0{p.stat().st_mtime_ns}\n".encode())
    for name in ("_extract.py", "_pdf.py", "_office.py", "_text.py"):
        key.update((ROOT / "indexer" / name).read_bytes())
    cached = CACHE / f"extract-{key.hexdigest()[:12]}.json"
    if cached.exists() and not rebuild:
        return {k: [tuple(p) for p in v] for k, v in json.loads(cached.read_text()).items()}
    out: dict[str, list[tuple[int, str]]] = {}
    for path in files:
        try:
            pages = [(p.number, p.text) for p in extract_pages(path, ocr=False)]
        except IndexerError:
            continue
        if sum(len(t.strip()) for _, t in pages) >= 20:
            out[path.name] = pages
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(out, ensure_ascii=False))
    return out


def real_docs(
    pages_by_file: dict[str, list[tuple[int, str]]], first_id: int, rng: random.Random
) -> list[BenchDoc]:
    """Each file cut at line ends into parts of 250-1000 characters, keeping page numbers."""
    docs: list[BenchDoc] = []
    for name, pages in pages_by_file.items():
        stem = Path(name.split("__", 1)[-1]).stem
        parts: list[list[tuple[int, str]]] = []
        part: list[tuple[int, str]] = []
        size, target = 0, rng.randint(250, 1000)
        for number, text in pages:
            for line in text.splitlines():
                if not line.strip():
                    continue
                for start in range(0, len(line), 1500):  # spreadsheet rows can be huge
                    piece = line[start : start + 1500]
                    part.append((number, piece))
                    size += len(piece)
                    if size >= target:
                        parts.append(part)
                        part, size, target = [], 0, rng.randint(250, 1000)
        if part:
            if parts and size < 150:
                parts[-1].extend(part)
            else:
                parts.append(part)
        for k, lines in enumerate(parts, 1):
            by_page: dict[int, list[str]] = {}
            for number, line in lines:
                by_page.setdefault(number, []).append(line)
            title = stem if len(parts) == 1 else f"{stem}（{k}）"
            doc_pages = [(n, "\n".join(ls)) for n, ls in by_page.items()]
            docs.append(BenchDoc(first_id + len(docs), title, doc_pages, name))
    return docs


def build_corpus(shared: Path, *, real: bool = True, rebuild: bool = False) -> list[BenchDoc]:
    """The bench's documents: seed table rows, report sections and (``real``) file parts."""
    rng = random.Random(SEED)
    table, report = seed_paths(shared)
    docs = table_docs(table, 1)
    docs += report_docs(report, len(docs) + 1, rng)
    if real:
        corpus = shared / "corpus" / "real"
        if not corpus.is_dir():
            sys.exit(f"real corpus not found at {corpus}")
        docs += real_docs(extracted_pages(corpus, rebuild), len(docs) + 1, rng)
    return docs


# -- queries and ground truth --------------------------------------------------------------


@dataclass
class BenchQuery:
    kind: str
    text: str  # as typed
    words: list[str]  # lowercased words (a quoted phrase is one) every relevant doc contains
    relevant: dict[int, int] = field(default_factory=dict)  # doc_id -> graded gain
    target: int | None = None  # known item
    how: str = ""  # which generator made it

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "how": self.how,
            "text": self.text,
            "words": self.words,
            "target": self.target,
            "relevant": {str(k): v for k, v in sorted(self.relevant.items())},
        }


def word_matcher(word: str) -> Callable[[str], int]:
    """Occurrences of ``word`` in a truth text: a substring, whose Latin/digit ends do not
    run on into more letters or digits (a code not into more code parts)."""
    if not (_ALNUM.match(word[0]) or _ALNUM.match(word[-1])):
        return lambda text: text.count(word)
    code = _CODE.fullmatch(word) is not None
    pre = "" if not _ALNUM.match(word[0]) else r"(?<![0-9a-z.])" if code else r"(?<![0-9a-z])"
    post = (
        "" if not _ALNUM.match(word[-1]) else r"(?![0-9a-z]|[.\-]\d)" if code else r"(?![0-9a-z])"
    )
    pattern = re.compile(pre + re.escape(word) + post)
    return lambda text: len(pattern.findall(text)) if word in text else 0


def identifier_matcher(ident: str) -> Callable[[str], int]:
    """Occurrences of an identifier in a truth text, as a reader takes it: any bracket for
    any bracket (〔2021〕, [2021], (2021) are one document number), spaces around brackets
    and between a number and a Han character ignored (a PDF writes 37 号), its Latin/digit
    ends not running on into more letters, digits or code parts (58号 is not in 758号)."""
    parts = []
    for i, c in enumerate(ident):
        if c in _BRACKETS:
            parts.append(rf"\s*[{re.escape(_BRACKETS)}]\s*")
        elif c.isspace():
            parts.append(r"\s*")
        else:
            if (
                i
                and _HAN_RUN.match(c) != _HAN_RUN.match(ident[i - 1])
                and ident[i - 1] not in _BRACKETS
            ):
                parts.append(r"\s*")
            parts.append(re.escape(c))
    # ends as a code's: 2023-04-14 is not in 2023-04-14.0099 (a number of a spreadsheet)
    pre = r"(?<![0-9a-z])" if _ALNUM.match(ident[0]) else ""
    pre += r"(?<!\d[.\-])" if ident[0].isdigit() else ""
    post = r"(?![0-9a-z]|[.\-]\d)" if _ALNUM.match(ident[-1]) else ""
    pattern = re.compile(pre + "".join(parts) + post)
    return lambda text: len(pattern.findall(text))


def judge(
    words: Sequence[str], docs: Sequence[BenchDoc], *, identifier: bool = False
) -> dict[int, int]:
    """Relevant documents (containing every word) with their graded gains; ``identifier``:
    the words are identifiers (see ``identifier_matcher``)."""
    matchers = [identifier_matcher(w) if identifier else word_matcher(w) for w in words]
    out: dict[int, int] = {}
    for d in docs:
        counts = [m(d.text) for m in matchers]
        if all(counts):
            gain = 1 + (sum(counts) >= 3) + all(m(d.title_text) for m in matchers)
            out[d.doc_id] = gain
    return out


def query_words(text: str) -> list[str]:
    """The words of a query as the ground truth reads them: quoted phrases, then the rest
    split at spaces; NFKC, lowercased."""
    norm = unicodedata.normalize("NFKC", text).lower()
    words = re.findall(r'"([^"]+)"', norm)
    words += re.sub(r'"[^"]*"', " ", norm).split()
    return list(dict.fromkeys(w for w in words if w))


class QueryMaker:
    """Generates the query set from the documents' text with a fixed random seed.

    Word candidates come from a fresh jieba with its stock dictionary (rjieba), not from the
    indexer's tokenizer, so the query set does not move when the indexer's dictionary does.
    """

    def __init__(self, docs: list[BenchDoc], framework_terms: Iterable[str], seed: int = SEED):
        import rjieba

        self.docs = docs
        self.rng = random.Random(seed)
        self.queries: list[BenchQuery] = []
        self.seen: set[str] = set()
        self.jieba = jb = rjieba.Jieba()
        self.stock_word = jb.has_word
        self.dict_words: dict[int, list[str]] = {}  # per doc, sorted
        df: Counter[str] = Counter()
        hmm_df: Counter[str] = Counter()
        for d in docs:
            words, made_up = set(), set()
            for run in _HAN_RUN.findall(d.text):
                words.update(w for w in jb.cut(run, False) if 2 <= len(w) <= 4)
                made_up.update(
                    w for w in jb.cut(run, True) if 2 <= len(w) <= 4 and not jb.has_word(w)
                )
            words = {w for w in words if jb.has_word(w)}
            self.dict_words[d.doc_id] = sorted(words)
            df.update(words)
            hmm_df.update(made_up)
        n = len(docs)
        lo, hi = max(2, round(0.02 * n)), round(0.30 * n)
        self.common = {w for w, c in df.items() if lo <= c <= hi}
        self._contexts = self._neighbours(set(hmm_df) | {t.lower() for t in framework_terms}, docs)
        self._all = "\n".join(d.text for d in docs)
        self.made_up = sorted(
            w
            for w, c in hmm_df.items()
            if 2 <= c <= hi and self.free(w) and self.cohesion(w) >= MIN_COHESION
        )
        self.framework_terms = sorted(
            t
            for t in set(framework_terms)
            if sum(t.lower() in d.text for d in docs) >= 2 and self.free(t.lower())
        )

    @staticmethod
    def _neighbours(words: set[str], docs: list[BenchDoc]) -> dict[str, tuple[set, set]]:
        """The characters seen before and after each word in the corpus."""
        out: dict[str, tuple[set, set]] = {}
        for w in words:
            left, right = set(), set()
            for d in docs:
                for m in re.finditer(re.escape(w), d.text):
                    left.add(d.text[m.start() - 1 : m.start()] or "^")
                    right.add(d.text[m.end() : m.end() + 1] or "$")
            out[w] = (left, right)
        return out

    def cohesion(self, word: str) -> float:
        """How much more often the word's parts occur together than by chance: the least
        pointwise mutual information over its splits (中仅 1.0 ... 长隆 7.7)."""
        total, n = self._all.count(word), len(self._all)
        return min(
            math.log(total * n / (self._all.count(word[:i]) * self._all.count(word[i:])))
            for i in range(1, len(word))
        )

    def free(self, word: str) -> bool:
        """Whether ``word`` stands on its own in the text, as a word a user would type: seen
        with at least three different characters before it and three after it (每高 always
        before 于 is a piece of 每/高于; 国国民经济 always after 和 is a piece of 共和国), and
        not starting with a measure word (年专业设置 is the end of 2022年专业设置)."""
        left, right = self._contexts.get(word, (set(), set()))
        return len(left) >= 3 and len(right) >= 3 and word[0] not in _MEASURE

    # -- helpers --

    def add(self, kind: str, text: str, how: str, target: int | None = None) -> bool:
        """Add a query if it is new and has relevant documents (known items: only one)."""
        text = " ".join(text.split()) if not text.startswith('"') else text
        if not text or text.lower() in self.seen:
            return False
        words = query_words(text)
        if not words:
            return False
        if target is not None:
            holders = judge([" ".join(words)], self.docs)
            if list(holders) != [target]:
                return False
            relevant = holders
        else:
            relevant = judge(words, self.docs)
            if not relevant:
                return False
        self.seen.add(text.lower())
        self.queries.append(BenchQuery(kind, text, words, relevant, target, how))
        return True

    def add_identifier(self, text: str, how: str) -> bool:
        """Add an identifier query: relevant are the documents holding it (brackets and
        spaces as ``identifier_matcher`` allows); held by one document, it is a known item."""
        text = " ".join(text.split())
        if not text or text.lower() in self.seen:
            return False
        word = unicodedata.normalize("NFKC", text).lower()
        relevant = judge([word], self.docs, identifier=True)
        if not relevant:
            return False
        target = next(iter(relevant)) if len(relevant) == 1 else None
        self.seen.add(text.lower())
        self.queries.append(BenchQuery("identifier", text, [word], relevant, target, how))
        return True

    def count(self, kind: str) -> int:
        return sum(q.kind == kind for q in self.queries)

    def display(self, doc: BenchDoc, word: str) -> str:
        """``word`` as the document writes it (case kept), for Latin words."""
        m = re.search(re.escape(word), doc.nfkc, re.IGNORECASE)
        return m.group() if m else word

    def _fill(self, kind: str, quota: int, makers: list[Callable[[], bool]]) -> None:
        """Call the makers in turn until ``quota`` queries of ``kind`` or they run dry."""
        tries = 0
        while self.count(kind) < quota and tries < 200 * quota:
            makers[tries % len(makers)]()
            tries += 1

    def _doc(self) -> BenchDoc:
        return self.rng.choice(self.docs)

    # -- the kinds --

    def make(self, counts: dict[str, int]) -> list[BenchQuery]:
        for kind, text in ISSUE_QUERIES:
            if self.count(kind) < counts[kind]:
                self.add(kind, text, "issue")
        pools = {
            "dictionary word": sorted(self.common),
            "framework term": self.framework_terms,
            "HMM word": self.made_up,
        }

        def single(how: str) -> Callable[[], bool]:
            return lambda: self.add("single", self.rng.choice(pools[how]), how)

        self._fill("single", counts["single"], [single(how) for how in pools if pools[how]])
        self._fill("multi", counts["multi"], [self._multi])
        self._fill("phrase", counts["phrase"], [self._phrase, self._phrase_raw])
        self._fill(
            "known",
            counts["known"],
            [self._doc_number, self._evidence_title, self._fragment, self._fragment_raw],
        )
        self._fill(
            "mixed", counts["mixed"], [self._latin, self._compound, self._code, self._latin_han]
        )
        self._fill("identifier", counts["identifier"], self._identifier_makers())
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(self.queries, key=lambda q: order[q.kind])

    def _multi(self) -> bool:
        d = self._doc()
        pool = [w for w in self.dict_words[d.doc_id] if w in self.common]
        pool += [t for t in self.framework_terms if t.lower() in d.text]
        pool = sorted(set(pool))
        k = self.rng.choice([2, 2, 3])
        if len(pool) < k:
            return False
        words = self.rng.sample(pool, k)
        if any(a != b and a in b for a in words for b in words):
            return False
        return self.add("multi", " ".join(words), "words of one document")

    def _span(self, d: BenchDoc, low: int, high: int, aligned: bool) -> str | None:
        """A random span of low-high Han characters of the document's body; ``aligned``:
        starting and ending at word boundaries (stock jieba), else anywhere."""
        runs = [r for r in _HAN_RUN.findall(d.nfkc_body) if len(r) >= low]
        if not runs:
            return None
        run = self.rng.choice(runs)
        if not aligned:
            size = self.rng.randint(low, min(high, len(run)))
            start = self.rng.randint(0, len(run) - size)
            return run[start : start + size]
        bounds = [0]
        for word in self.jieba.cut(run, True):
            bounds.append(bounds[-1] + len(word))
        starts = [b for b in bounds if b + low <= len(run)]
        if not starts:
            return None
        start = self.rng.choice(starts)
        ends = [b for b in bounds if low <= b - start <= high]
        return run[start : self.rng.choice(ends)] if ends else None

    def _phrase(self) -> bool:
        span = self._span(self._doc(), 4, 10, aligned=True)
        return bool(span) and self.add("phrase", f'"{span}"', "word-aligned span")

    def _phrase_raw(self) -> bool:
        span = self._span(self._doc(), 4, 10, aligned=False)
        return bool(span) and self.add("phrase", f'"{span}"', "span cut anywhere")

    def _doc_number(self) -> bool:
        d = self._doc()
        found = re.findall(rf"([{_HAN}]{{0,2}})([〔\[(【]\d{{4}}[〕\])】]\d{{1,4}}号)", d.nfkc)
        if not found:
            return False
        prefix, number = self.rng.choice(found)
        return self.add("known", number, "document number", d.doc_id) or self.add(
            "known", prefix + number, "document number", d.doc_id
        )

    def _identifier_makers(self) -> list[Callable[[], bool]]:
        """Identifiers found anywhere in the corpus (so every kind of them gets its share):
        document numbers with their issuer as written, with other brackets and bare, dates,
        numbers with a unit, codes of letters and digits."""
        numbers: set[tuple[str, str]] = set()
        dates: set[str] = set()
        units: set[str] = set()
        codes: set[str] = set()
        for d in self.docs:
            numbers.update((m.group(1) or "", m.group(2)) for m in _ID_DOC_NUMBER.finditer(d.nfkc))
            dates.update(_ID_DATE.findall(d.nfkc))
            units.update(_ID_UNIT.findall(d.nfkc))
            codes.update(m.group() for m in _ID_CODE.finditer(d.nfkc) if "\n" not in m.group())
        issued = sorted((i, n) for i, n in numbers if i)
        bare = sorted({n for _, n in numbers})
        pools: list[tuple[str, list, Callable[[Any], str]]] = [
            ("document number as written", issued, lambda x: x[0] + x[1]),
            ("document number, other brackets", issued, lambda x: x[0] + self._rebracket(x[1])),
            ("bare document number", bare, lambda x: x),
            ("date", sorted(dates), lambda x: x),
            ("number with a unit", sorted(units), lambda x: x),
            ("letters and digits", sorted(codes), lambda x: x),
        ]

        def maker(how: str, pool: list, text: Callable[[Any], str]) -> Callable[[], bool]:
            return lambda: self.add_identifier(text(self.rng.choice(pool)), how)

        return [maker(how, pool, text) for how, pool, text in pools if pool]

    def _rebracket(self, number: str) -> str:
        """The document number with another kind of brackets (〔2021〕 -> [2021] ...)."""
        number = re.sub(r"\s+", "", number)
        now = next((o, c) for o, c in _OPEN_CLOSE + [("（", "）")] if number.startswith(o))
        other = self.rng.choice([oc for oc in _OPEN_CLOSE if oc[0] != now[0]])
        return other[0] + number[1:].replace(now[1], other[1], 1)

    def _evidence_title(self) -> bool:
        d = self._doc()
        titles = re.findall(r"\d+\.\d+\.\d+-\d+ ([^\t\n]+?)(?= \d+\.\d+\.\d+-\d+ |\t|\n|$)", d.nfkc)
        titles = [t.strip() for t in titles if 6 <= len(t.strip()) <= 40]
        if not titles:
            return False
        return self.add("known", self.rng.choice(titles), "evidence title", d.doc_id)

    def _fragment(self) -> bool:
        d = self._doc()
        span = self._span(d, 8, 14, aligned=True)
        return bool(span) and self.add("known", span, "word-aligned fragment", d.doc_id)

    def _fragment_raw(self) -> bool:
        d = self._doc()
        span = self._span(d, 8, 14, aligned=False)
        return bool(span) and self.add("known", span, "fragment cut anywhere", d.doc_id)

    def _latin(self) -> bool:
        d = self._doc()
        words = sorted(set(re.findall(r"(?<![0-9a-z])[a-z][a-z0-9+#]{1,11}(?![0-9a-z])", d.text)))
        if not words:
            return False
        return self.add("mixed", self.display(d, self.rng.choice(words)), "Latin word")

    def _compound(self) -> bool:
        d = self._doc()
        found = re.findall(
            rf"(?<![0-9a-z.])(\d{{4}}年|\d+\+[a-z]+[{_HAN}]{{2}}|[a-z]{{2,}}[{_HAN}]{{2}})", d.text
        )
        found = [f for f in found if f.endswith("年") or self.stock_word(f[-2:])]
        if not found:
            return False
        return self.add("mixed", self.display(d, self.rng.choice(sorted(found))), "compound")

    def _code(self) -> bool:
        d = self._doc()
        if not d.entry_codes:
            return False
        return self.add("mixed", self.rng.choice(d.entry_codes), "evidence code")

    def _latin_han(self) -> bool:
        d = self._doc()
        latin = sorted(set(re.findall(r"(?<![0-9a-z])[a-z]{2,12}(?![0-9a-z])", d.text)))
        han = [w for w in self.dict_words[d.doc_id] if w in self.common]
        if not latin or not han:
            return False
        words = [self.display(d, self.rng.choice(latin)), self.rng.choice(han)]
        return self.add("mixed", " ".join(words), "Latin and Chinese word")


def make_queries(
    docs: list[BenchDoc], framework_terms: Iterable[str], counts: dict[str, int]
) -> list[BenchQuery]:
    """The query set with its ground truth (deterministic for the same documents)."""
    return QueryMaker(docs, framework_terms).make(counts)


# -- systems ------------------------------------------------------------------------------


class System:
    """An index over the bench documents that returns the top doc ids of a query."""

    name = ""

    def build(self, docs: list[BenchDoc], path: Path) -> None:
        raise NotImplementedError

    def search(self, query: BenchQuery) -> list[int]:
        raise NotImplementedError

    def close(self) -> None:
        pass


#: --postgres-url: ours-postgres builds its index in a schema of its own there (dropped after).
POSTGRES_URL = ""


class Ours(System):
    """Our search through ``indexer.open_index`` (Whoosh, tantivy or PostgreSQL backend)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"ours-{kind}"
        self.schema = ""

    def build(self, docs: list[BenchDoc], path: Path) -> None:
        from indexer import IndexDoc, Page, open_index

        location: str | Path = path
        if self.kind == "postgres":
            location = self._postgres_schema()
        self.index = open_index(self.kind, location)
        self.index.add(
            IndexDoc(
                d.doc_id,
                d.title,
                [Page(n, t) for n, t in d.pages],
                entry_codes=d.entry_codes,
                indicator_codes=d.indicator_codes,
            )
            for d in docs
        )

    def search(self, query: BenchQuery) -> list[int]:
        from indexer import SearchQuery

        result = self.index.search(SearchQuery(query.text, limit=TOP, snippets=False))
        return [h.doc_id for h in result.hits]

    def close(self) -> None:
        self.index.close()
        if self.schema:
            self._admin(f'DROP SCHEMA "{self.schema}" CASCADE')

    def _postgres_schema(self) -> str:
        """A database URL whose search_path is a new schema of this run."""
        if not POSTGRES_URL:
            sys.exit("ours-postgres needs --postgres-url")
        self.schema = f"bench_quality_{random.randrange(1 << 30):x}"
        self._admin(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in POSTGRES_URL else "?"
        return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{self.schema}"

    @staticmethod
    def _admin(statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text(statement))
        engine.dispose()


class WhooshStandard(System):
    """Whoosh as it comes (paperless-ngx up to 2.x): StandardAnalyzer, AND, BM25F."""

    name = "whoosh-standard"

    def build(self, docs: list[BenchDoc], path: Path) -> None:
        from whoosh import index
        from whoosh.fields import ID, TEXT, Schema
        from whoosh.qparser import AndGroup, MultifieldParser

        schema = Schema(doc_id=ID(stored=True), title=TEXT(), content=TEXT())
        path.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(path), schema)
        writer = ix.writer()
        for d in docs:
            writer.add_document(doc_id=str(d.doc_id), title=d.title, content=d.body)
        writer.commit()
        self.searcher = ix.searcher()
        self.parser = MultifieldParser(["title", "content"], schema, group=AndGroup)

    def search(self, query: BenchQuery) -> list[int]:
        results = self.searcher.search(self.parser.parse(query.text), limit=TOP)
        return [int(r["doc_id"]) for r in results]

    def close(self) -> None:
        self.searcher.close()


_GRAM_RUN = re.compile(f"[{_HAN}]+|[0-9a-z]+")


def bigram_tokens(text: str) -> list[str]:
    """Lucene CJK-analyzer tokens: NFKC + lowercase, Han runs as overlapping bigrams (a lone
    character as itself), Latin/digit runs whole, everything else a separator."""
    out: list[str] = []
    for run in _GRAM_RUN.findall(unicodedata.normalize("NFKC", text).lower()):
        if _HAN_RUN.fullmatch(run) and len(run) > 1:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run)
    return out


class TantivyBigram(System):
    """Character bigrams on tantivy (paperless-ngx 3 style), BM25, words ANDed."""

    name = "tantivy-bigram"

    def build(self, docs: list[BenchDoc], path: Path) -> None:
        import tantivy

        sb = tantivy.SchemaBuilder()
        sb.add_unsigned_field("doc_id", stored=True, indexed=True)
        for f in ("title", "body"):
            sb.add_text_field(f, tokenizer_name="whitespace", index_option="position")
        self.schema = sb.build()
        path.mkdir(parents=True, exist_ok=True)
        index = tantivy.Index(self.schema, path=str(path))
        writer = index.writer(heap_size=64_000_000, num_threads=1)
        for d in docs:
            record = tantivy.Document()
            record.add_unsigned("doc_id", d.doc_id)
            record.add_text("title", " ".join(bigram_tokens(d.title)))
            record.add_text("body", " ".join(bigram_tokens(d.body)))
            writer.add_document(record)
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self.searcher = index.searcher()

    def _clause(self, field_name: str, tokens: list[str]):  # -> tantivy.Query
        import tantivy

        q = tantivy.Query
        if len(tokens) > 1:
            return q.phrase_query(self.schema, field_name, tokens)
        token = tokens[0]
        if len(token) == 1 and _HAN_RUN.fullmatch(token):
            return q.regex_query(self.schema, field_name, f"{token}.?|.{token}")
        return q.term_query(self.schema, field_name, token)

    def search(self, query: BenchQuery) -> list[int]:
        import tantivy

        occur = tantivy.Occur
        clauses = []
        for word in _query_units(query.text):
            tokens = bigram_tokens(word)
            if tokens:
                either = [(occur.Should, self._clause(f, tokens)) for f in ("title", "body")]
                clauses.append((occur.Must, tantivy.Query.boolean_query(either)))
        if not clauses:
            return []
        hits = self.searcher.search(tantivy.Query.boolean_query(clauses), TOP).hits
        return [self.searcher.doc(addr)["doc_id"][0] for _, addr in hits]


def _query_units(text: str) -> list[str]:
    """Quoted phrases, then the other words split at spaces (case and width as typed)."""
    units = re.findall(r'"([^"]+)"', text)
    units += re.sub(r'"[^"]*"', " ", text).split()
    return [u for u in units if u.strip()]


class Fts5Trigram(System):
    """SQLite FTS5 with the trigram tokenizer; words of 1-2 characters by LIKE."""

    name = "fts5-trigram"

    def build(self, docs: list[BenchDoc], path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path / "fts.db")
        self.db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, content, tokenize='trigram')")
        self.db.executemany(
            "INSERT INTO docs(rowid, title, content) VALUES (?, ?, ?)",
            [(d.doc_id, d.title, d.body) for d in docs],
        )
        self.db.commit()

    def search(self, query: BenchQuery) -> list[int]:
        match, where, args = [], [], []
        for unit in _query_units(query.text):
            if len(unit) >= 3:
                match.append('"' + unit.replace('"', '""') + '"')
            else:
                like = (
                    "%" + unit.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                )
                where.append("(title LIKE ? ESCAPE '\\' OR content LIKE ? ESCAPE '\\')")
                args += [like, like]
        if match:
            where.insert(0, "docs MATCH ?")
            args.insert(0, " AND ".join(match))
        if not where:
            return []
        order = "bm25(docs)" if match else "rowid"
        sql = f"SELECT rowid FROM docs WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {TOP}"
        return [row[0] for row in self.db.execute(sql, args)]

    def close(self) -> None:
        self.db.close()


def make_system(name: str) -> System:
    if name.startswith("ours-"):
        return Ours(name.removeprefix("ours-"))
    return {
        "whoosh-standard": WhooshStandard,
        "tantivy-bigram": TantivyBigram,
        "fts5-trigram": Fts5Trigram,
    }[name]()


# -- running and scoring -------------------------------------------------------------------


@dataclass
class Run:
    """One system's answers to the query set."""

    system: str
    build_s: float
    ranked: list[list[int]]
    ms: list[float]


def run_system(name: str, docs: list[BenchDoc], queries: list[BenchQuery], workdir: Path) -> Run:
    """Build ``name``'s index of ``docs`` in ``workdir`` and answer every query (timed)."""
    system = make_system(name)
    started = time.perf_counter()
    system.build(docs, workdir / name)
    build_s = time.perf_counter() - started
    try:
        for q in queries[:10]:  # warm-up: caches, lazy imports
            system.search(q)
        ranked, ms = [], []
        for q in queries:
            started = time.perf_counter()
            try:
                ids = system.search(q)
            except Exception as e:  # a peer's parser choking on the input is a miss, not a crash
                print(f"  {name}: {q.text!r} failed: {type(e).__name__}: {e}", file=sys.stderr)
                ids = []
            ms.append((time.perf_counter() - started) * 1000)
            ranked.append(ids[:TOP])
    finally:
        system.close()
    return Run(name, build_s, ranked, ms)


def recall_at(q: BenchQuery, ids: list[int], k: int = TOP) -> float:
    return len(q.relevant.keys() & set(ids[:k])) / min(len(q.relevant), k)


def precision_at(q: BenchQuery, ids: list[int], k: int = 10) -> float:
    return len(q.relevant.keys() & set(ids[:k])) / min(len(q.relevant), k)


def ndcg_at(q: BenchQuery, ids: list[int], k: int = 10) -> float:
    def dcg(gains: Iterable[int]) -> float:
        return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(gains))

    ideal = dcg(sorted(q.relevant.values(), reverse=True)[:k])
    return dcg(q.relevant.get(i, 0) for i in ids[:k]) / ideal


def r_precision(q: BenchQuery, ids: list[int]) -> float:
    """Precision at R = min(relevant, 20): 1.0 when the relevant documents come first, before
    any document that only has some of the query's parts (a 2021 here, a 758 there)."""
    r = min(len(q.relevant), TOP)
    return len(q.relevant.keys() & set(ids[:r])) / r


def reciprocal_rank(q: BenchQuery, ids: list[int]) -> float:
    return 1.0 / (ids.index(q.target) + 1) if q.target in ids else 0.0


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] if ordered else 0.0


def score(run: Run, queries: list[BenchQuery], kind: str | None = None) -> dict[str, float]:
    """The metrics of ``run`` over all queries, or those of one kind."""
    pairs = [(q, ids, ms) for q, ids, ms in zip(queries, run.ranked, run.ms, strict=True)]
    pairs = [p for p in pairs if kind is None or p[0].kind == kind]
    if not pairs:
        return {}
    known = [reciprocal_rank(q, ids) for q, ids, _ in pairs if q.target is not None]
    return {
        "queries": len(pairs),
        "recall@20": statistics.mean(recall_at(q, ids) for q, ids, _ in pairs),
        "P@10": statistics.mean(precision_at(q, ids) for q, ids, _ in pairs),
        "nDCG@10": statistics.mean(ndcg_at(q, ids) for q, ids, _ in pairs),
        "R-prec": statistics.mean(r_precision(q, ids) for q, ids, _ in pairs),
        "MRR(known)": statistics.mean(known) if known else float("nan"),
        "p50 ms": statistics.median(ms for _, _, ms in pairs),
        "p95 ms": percentile([ms for _, _, ms in pairs], 0.95),
    }


def misses(q: BenchQuery, ids: list[int]) -> list[int]:
    """Relevant documents that should be in the top 20 and are not (best gains first)."""
    wanted = min(len(q.relevant), TOP)
    found = len(q.relevant.keys() & set(ids))
    if found >= wanted:
        return []
    rest = sorted((d for d in q.relevant if d not in ids), key=lambda d: (-q.relevant[d], d))
    return rest[: wanted - found]


def is_weak(q: BenchQuery, ids: list[int]) -> bool:
    """Recall below 1, or a known item not at rank 1."""
    return recall_at(q, ids) < 1 or (q.target is not None and ids[:1] != [q.target])


# -- report --------------------------------------------------------------------------------

_COLUMNS = ("recall@20", "P@10", "nDCG@10", "R-prec", "MRR(known)", "p50 ms", "p95 ms")


def _row(label: str, figures: dict[str, float], width: int = 16) -> str:
    cells = [f"{label:<{width}}", f"{figures.get('queries', 0):>7}"]
    for col in _COLUMNS:
        value = figures.get(col, float("nan"))
        cells.append(f"{value:>10.2f}" if col.endswith("ms") else f"{value:>10.3f}")
    return " ".join(cells)


def print_tables(docs: list[BenchDoc], queries: list[BenchQuery], runs: list[Run]) -> None:
    header = f"{'system':<16} {'queries':>7} " + " ".join(f"{c:>10}" for c in _COLUMNS)
    print(f"\n{len(docs)} documents; all queries")
    print(header + f" {'build s':>8}")
    for run in runs:
        print(_row(run.system, score(run, queries)) + f" {run.build_s:>8.1f}")
    for kind in KINDS:
        print(f"\n{kind} queries")
        print(header)
        for run in runs:
            print(_row(run.system, score(run, queries, kind)))


def print_generators(queries: list[BenchQuery], runs: list[Run]) -> None:
    """recall@20 per query generator (kind / how), to locate losses."""
    groups = sorted({(q.kind, q.how) for q in queries}, key=lambda g: (KINDS.index(g[0]), g[1]))
    names = [r.system for r in runs]
    print("\nrecall@20 by query generator")
    print(f"{'kind / generator':<34} {'n':>3} " + " ".join(f"{n:>15}" for n in names))
    for kind, how in groups:
        index = [i for i, q in enumerate(queries) if (q.kind, q.how) == (kind, how)]
        cells = [statistics.mean(recall_at(queries[i], r.ranked[i]) for i in index) for r in runs]
        label = f"{kind} / {how}"
        print(f"{label:<34} {len(index):>3} " + " ".join(f"{c:>15.3f}" for c in cells))


def _context(doc: BenchDoc, word: str, width: int = 18) -> str:
    """The text around the first occurrence of ``word`` in ``doc``, the word in 【】."""
    i = doc.text.find(word)
    if i < 0:
        return "(not in the text)"
    before = doc.nfkc[max(0, i - width) : i]
    after = doc.nfkc[i + len(word) : i + len(word) + width]
    return " ".join(f"{before}【{doc.nfkc[i : i + len(word)]}】{after}".split())


def _tokens(text: str) -> str:
    from indexer import tokenize

    return "/".join(t.text for t in tokenize(text, search=False))


def print_worst(
    docs: list[BenchDoc], queries: list[BenchQuery], runs: list[Run], limit: int = 40
) -> list[dict]:
    """Our search's failing queries (recall < 1, known item not first), with the missed
    documents and where the query words stand in them; returned for --json."""
    by_id = {d.doc_id: d for d in docs}
    ours = [r for r in runs if r.system.startswith("ours-")]
    rows = []
    for i, q in enumerate(queries):
        weak = [r for r in ours if is_weak(q, r.ranked[i])]
        if not weak:
            continue
        row = {"query": q.text, "kind": q.kind, "how": q.how, "relevant": len(q.relevant)}
        for r in ours:
            ids = r.ranked[i]
            row[r.system] = {
                "recall@20": recall_at(q, ids),
                "rank": ids.index(q.target) + 1 if q.target in ids else None,
                "missed": misses(q, ids),
            }
        rows.append(row)
    print(f"\nour worst queries: {len(rows)} with recall < 1 or the known item not first")
    for row in rows[:limit]:
        q = next(q for q in queries if q.text == row["query"])
        figures = "  ".join(
            f"{s}: recall {row[s]['recall@20']:.2f}"
            + (f", rank {row[s]['rank']}" if q.target is not None else "")
            for s in row
            if s.startswith("ours-")
        )
        print(f"- [{q.kind}/{q.how}] {q.text}  ({len(q.relevant)} relevant; {figures})")
        print(f"    query tokens: {' | '.join(_tokens(w) for w in q.words)}")
        missed = sorted({d for s in row if s.startswith("ours-") for d in row[s]["missed"]})
        if q.target is not None and not missed:
            missed = [q.target]
        for doc_id in missed[:3]:
            d = by_id[doc_id]
            for w in q.words:
                ctx = _context(d, w)
                print(f"    missed #{doc_id} {d.title[:40]!r}: {ctx}")
                print(f"      text tokens: {_tokens(ctx.replace('【', '').replace('】', ''))}")
        if len(missed) > 3:
            print(f"    ... and {len(missed) - 3} more")
    return rows


def print_peer_wins(queries: list[BenchQuery], runs: list[Run], limit: int = 12) -> None:
    """Queries where a peer finds more relevant documents than both of our backends."""
    ours = [r for r in runs if r.system.startswith("ours-")]
    peers = [r for r in runs if not r.system.startswith("ours-")]
    if not ours or not peers:
        return
    for peer in peers:
        wins = [
            (q, recall_at(q, peer.ranked[i]), max(recall_at(q, r.ranked[i]) for r in ours))
            for i, q in enumerate(queries)
            if recall_at(q, peer.ranked[i]) > max(recall_at(q, r.ranked[i]) for r in ours)
        ]
        print(f"\n{peer.system} finds more than ours on {len(wins)} queries")
        for q, theirs, best in wins[:limit]:
            print(f"- [{q.kind}] {q.text}: {theirs:.2f} vs ours {best:.2f}")


def write_queries(queries: list[BenchQuery], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([q.to_json() for q in queries], ensure_ascii=False, indent=1), encoding="utf-8"
    )


def prepare(
    shared: Path, *, quick: bool = False, rebuild: bool = False
) -> tuple[list[BenchDoc], list[str], list[BenchQuery]]:
    """Documents, the framework's dictionary terms and the queries (``quick``: the test's
    slice, seed texts only)."""
    docs = build_corpus(shared, real=not quick, rebuild=rebuild)
    terms = framework_words(seed_paths(shared)[0])
    queries = make_queries(docs, terms, QUICK_COUNTS if quick else FULL_COUNTS)
    return docs, terms, queries


def run_ours(
    kind: str, docs: list[BenchDoc], terms: list[str], queries: list[BenchQuery], workdir: Path
) -> Run:
    """Our search of ``kind`` with the framework terms in the dictionary, as the app runs it."""
    from indexer import add_user_words

    add_user_words(terms)
    return run_system(f"ours-{kind}", docs, queries, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--quick", action="store_true", help="the regression test's slice")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated list")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--worst", type=int, default=40, help="worst queries to print")
    parser.add_argument("--rebuild", action="store_true", help="re-extract the real files")
    parser.add_argument(
        "--postgres-url", default="", help="database for ours-postgres (a schema is made there)"
    )
    args = parser.parse_args()
    if not args.shared.is_dir():
        sys.exit(f"shared folder not found at {args.shared} (the seeds and corpus live there)")
    names = [s for s in args.systems.split(",") if s]
    known = SYSTEMS + OPTIONAL_SYSTEMS
    unknown = set(names) - set(known)
    if unknown:
        sys.exit(f"unknown systems: {', '.join(sorted(unknown))} (known: {', '.join(known)})")
    global POSTGRES_URL
    POSTGRES_URL = args.postgres_url

    started = time.perf_counter()
    docs, terms, queries = prepare(args.shared, quick=args.quick, rebuild=args.rebuild)
    sizes = sorted(len(d.text.encode()) for d in docs)
    print(
        f"{len(docs)} documents ({sum(d.source.endswith('.txt') for d in docs)} from the seeds), "
        f"{sizes[0]}-{sizes[-1]} bytes (median {sizes[len(sizes) // 2]}); "
        f"{len(terms)} framework terms; {time.perf_counter() - started:.1f} s to prepare"
    )
    kinds = Counter(q.kind for q in queries)
    print(f"{len(queries)} queries: " + ", ".join(f"{kinds[k]} {k}" for k in KINDS))
    write_queries(queries, CACHE / ("queries-quick.json" if args.quick else "queries.json"))

    # our systems first: the framework terms they add must not change the peers (they don't
    # use the tokenizer), and the dictionary must hold them before our indexes are built
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        for name in names:
            if name.startswith("ours-"):
                runs.append(run_ours(name.removeprefix("ours-"), docs, terms, queries, Path(tmp)))
            else:
                runs.append(run_system(name, docs, queries, Path(tmp)))
    print_tables(docs, queries, runs)
    print_generators(queries, runs)
    worst = print_worst(docs, queries, runs, args.worst)
    print_peer_wins(queries, runs)
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.1f} s in all")
    if args.json:
        figures = {
            "documents": len(docs),
            "queries": dict(kinds),
            "seconds": seconds,
            "systems": {
                r.system: {
                    "build_s": r.build_s,
                    "all": score(r, queries),
                    **{k: score(r, queries, k) for k in KINDS},
                }
                for r in runs
            },
            "per_query": [
                {
                    **q.to_json(),
                    "relevant": len(q.relevant),
                    "results": {
                        r.system: {
                            "recall@20": recall_at(q, r.ranked[i]),
                            "nDCG@10": ndcg_at(q, r.ranked[i]),
                            "top": r.ranked[i][:10],
                            "ms": r.ms[i],
                        }
                        for r in runs
                    },
                }
                for i, q in enumerate(queries)
            ],
            "worst": worst,
        }
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
