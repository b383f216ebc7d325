"""Tokenizer benchmark: jieba vs rjieba speed and agreement, and our tokenizer's speed.

Text: the seed texts, the real corpus's text files and the text layer of its Chinese PDFs
(read with pypdfium2). Prints MB/s (UTF-8) of ``jieba.lcut``, ``rjieba.cut`` and
``indexer.tokenize`` (index and query mode), the dictionary load times, and how often
jieba and rjieba give the same tokens:

- on the Han spans our tokenizer hands to jieba (what matters for the index), and
- on whole lines of raw text (where they differ: rjieba keeps 2.3.4-1 or 2020-2022 whole,
  jieba cuts 2.3 . 4 - 1; our tokenizer never hands them that text).

    .venv/bin/python bench/tokenizer_speed.py
"""

from __future__ import annotations

import sys

# Run as a script, this file's folder comes first on sys.path and this file would shadow
# the standard library's tokenize module (which linecache and pkg_resources import).
if sys.path and sys.path[0].rstrip("/").endswith("bench"):
    del sys.path[0]

import difflib
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "real"
ENCODED = {
    "chardet-GB2312___ude_1.txt": "gb18030",
    "chardet-Big5___ude_1.txt": "big5",
    "chardet-GB2312__cnblog.org.xml": "gb18030",
}


def load_texts() -> dict[str, str]:
    texts = {
        p.name: p.read_text(encoding="utf-8") for p in sorted((SHARED / "seeds").glob("*.txt"))
    }
    if not CORPUS.is_dir():
        return texts
    for path in sorted(CORPUS.glob("*.txt")) + sorted(CORPUS.glob("*.xml")):
        texts[path.name] = path.read_bytes().decode(ENCODED.get(path.name, "utf-8"))
    try:
        import pypdfium2
    except ImportError:
        return texts
    for path in sorted(CORPUS.glob("*.pdf")):
        try:
            pdf = pypdfium2.PdfDocument(str(path))
        except Exception:  # corrupt or encrypted samples: not text for this benchmark
            continue
        pages = []
        for i in range(min(len(pdf), 80)):
            page = pdf[i]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range())
            textpage.close()
            page.close()
        pdf.close()
        text = "\n".join(pages)
        if sum("\u4e00" <= c <= "\u9fff" for c in text) >= 100:  # a Chinese text layer
            texts[path.name] = text
    return texts


def rate(fn, texts: list[str], size: int, repeat: int = 3) -> float:
    """Best MB/s of ``repeat`` runs of ``fn`` over ``texts``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - started)
    return size / 1e6 / best


def agreement(pairs: list[tuple[list[str], list[str]]]) -> tuple[float, float]:
    """(% of units with identical tokens, % of tokens in matching runs)."""
    same = sum(a == b for a, b in pairs)
    matched = total = 0
    for a, b in pairs:
        total += len(a) + len(b)
        if a == b:
            matched += 2 * len(a)
        else:
            blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
            matched += 2 * sum(block.size for block in blocks)
    return 100.0 * same / max(1, len(pairs)), 100.0 * matched / max(1, total)


def main() -> None:
    started = time.perf_counter()
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    jieba_load = time.perf_counter() - started
    started = time.perf_counter()
    import rjieba

    rjieba.cut("预热")
    rjieba_load = time.perf_counter() - started

    from indexer._tokenize import han_spans, segment, tokenize, user_words

    texts = load_texts()
    size = sum(len(t.encode()) for t in texts.values())
    print(f"{len(texts)} texts, {size / 1e6:.2f} MB: {', '.join(texts)}")
    print(f"dictionary load: jieba {jieba_load:.2f} s, rjieba {rjieba_load:.2f} s")
    values = list(texts.values())
    print(f"jieba.lcut                {rate(jieba.lcut, values, size, 1):7.2f} MB/s")
    print(f"rjieba.cut                {rate(rjieba.cut, values, size):7.2f} MB/s")
    print(f"tokenize (index mode)     {rate(tokenize, values, size):7.2f} MB/s")
    print(
        f"tokenize (query mode)     "
        f"{rate(lambda t: tokenize(t, search=False), values, size):7.2f} MB/s"
    )

    # same dictionary on both sides: jieba gets our domain and user words too
    reference = jieba.Tokenizer()
    reference.initialize()
    for word, freq in user_words().items():
        reference.add_word(word, freq)
    spans = [s for t in values for s in han_spans(t)]
    span_pairs = [(reference.lcut(s), segment(s)) for s in spans]
    search_pairs = [(reference.lcut_for_search(s), segment(s, search=True)) for s in spans]
    lines = [line for t in values for line in t.splitlines() if line.strip()]
    line_pairs = [(jieba.lcut(line), rjieba.cut(line)) for line in lines]
    for label, pairs in [
        ("Han spans, default mode", span_pairs),
        ("Han spans, search mode", search_pairs),
        ("raw lines, default mode", line_pairs),
    ]:
        units, tokens = agreement(pairs)
        print(
            f"agreement {label:<24} {units:6.2f} % of {len(pairs)} units, {tokens:6.2f} % of tokens"
        )
    differing = [(a, b) for a, b in line_pairs if a != b][:5]
    for a, b in differing:
        diff = [(x, y) for x, y in zip(a, b, strict=False) if x != y][:3]
        print(f"  e.g. jieba {diff[0][0]!r} vs rjieba {diff[0][1]!r}" if diff else "")


if __name__ == "__main__":
    main()
