"""Child-process bodies for the concurrency tests.

Tests run with ``--import-mode=importlib``, so a spawned child cannot import a test module
by name: it runs this file with ``runpy.run_path`` (see ``start_worker``), and the call to
make comes in ``WORKER`` (a function name) and ``ARGS``.
"""

from __future__ import annotations

import multiprocessing
import runpy
import time
from pathlib import Path
from typing import Any


def write_docs(kind: str, path: str, first: int, count: int, barrier: Any) -> None:
    """Add documents one at a time (one commit, one writer lock each), starting together
    with the other writers at ``barrier``."""
    from indexer import IndexDoc, Page, open_index

    with open_index(kind, path, lock_timeout=60.0) as index:
        barrier.wait(60)
        for doc_id in range(first, first + count):
            page = Page(1, f"并发写入测试 第{doc_id}号")
            index.add([IndexDoc(doc_id, f"进程写入{doc_id}", [page])])


def hold_writer(kind: str, path: str, seconds: float, ready: Any) -> None:
    """Take the writer lock, say so, and keep it for ``seconds``."""
    from indexer import open_index

    with open_index(kind, path) as index, index._writer():
        ready.set()
        time.sleep(seconds)


def start_worker(name: str, *args: Any) -> multiprocessing.process.BaseProcess:
    """Start a spawned process running ``name(*args)`` from this file."""
    ctx = multiprocessing.get_context("spawn")
    process = ctx.Process(
        target=runpy.run_path,
        args=(str(Path(__file__)),),
        kwargs={"init_globals": {"WORKER": name, "ARGS": args}, "run_name": "__worker__"},
    )
    process.start()
    return process


if __name__ == "__worker__":
    globals()[globals()["WORKER"]](*globals()["ARGS"])
