"""What reading files in a child process (indexer.ExtractionSandbox) costs over reading them
in the calling process: the start of a child, and the overhead per file once it runs.

    .venv/bin/python bench/extraction_child.py [--runs 20]

For each file: detect_file_type + extract_pages, median of ``--runs`` timings, in-process
and through the sandbox (both warmed up first, so library imports are not counted).
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
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402

from indexer import ExtractionSandbox, Page, detect_file_type, extract_pages  # noqa: E402
from indexer._sandbox import stop_child  # noqa: E402

SHARED = Path(os.environ.get("EVIDENCE_SHARED_DIR") or ROOT.parent / "shared")
CORPUS = SHARED / "corpus" / "real"
FILES = [
    "chardet-GB2312___ude_1.txt",
    "easyexcel__demo.xlsx",
    "chatchat__核电厂定期安全审查指南 第1部分：通用要求（征求意见稿）.docx",
    "bithesis__1_originality.pdf",
]


def _read(detect: Callable[..., str], extract: Callable[..., Iterable[Page]], path: Path) -> float:
    started = time.perf_counter()
    list(extract(path, detect(path, path.name)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    sandbox = ExtractionSandbox()
    starts = []
    for _ in range(5):
        stop_child()
        started = time.perf_counter()
        sandbox.detect_file_type(CORPUS / FILES[0])
        starts.append(time.perf_counter() - started)
    print(f"child start + first answer: {statistics.median(starts) * 1000:.0f} ms (median of 5)")
    print(f"{'file':40} {'in-process':>11} {'child':>9} {'overhead':>9}")
    for name in FILES:
        path = CORPUS / name
        _read(detect_file_type, extract_pages, path)
        _read(sandbox.detect_file_type, sandbox.extract_pages, path)
        here = statistics.median(
            _read(detect_file_type, extract_pages, path) for _ in range(args.runs)
        )
        there = statistics.median(
            _read(sandbox.detect_file_type, sandbox.extract_pages, path) for _ in range(args.runs)
        )
        print(
            f"{name[:40]:40} {here * 1000:8.1f} ms {there * 1000:6.1f} ms"
            f" {(there - here) * 1000:+6.1f} ms"
        )
    stop_child()


if __name__ == "__main__":
    main()
