"""Extraction in a child process with a memory and a time limit, so that one bad file (a
library that allocates gigabytes, crashes or hangs) costs its own document, not the worker.

Each calling thread has its own long-lived child, reused from file to file and replaced
when it dies or is stopped. The child is a fresh interpreter (``python -c``, fork+exec like
multiprocessing's "spawn", so it is safe to start from a threaded worker) that imports only
the indexer: multiprocessing's spawn would also re-run the main script, which for the
``evidence`` command is the whole Flask app (+75 MB and +1 s per child).

While it waits, the parent reads the resident memory of the child and of its own children
(VmRSS in /proc) every ``POLL_SECONDS`` and kills the child's process group above the
limit. RLIMIT_AS is only a far fence (``ADDRESS_SPACE_FACTOR`` times the limit, at least
``MIN_ADDRESS_SPACE_MB``) against growth faster than the polling: ONNX Runtime and pdfium
map address space they never touch, so a tight one would break OCR.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import weakref
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from indexer._extract import detect_file_type, extract_pages
from indexer._facts import FileFacts, inspect_file
from indexer._types import (
    EncryptedError,
    ExtractionError,
    IndexerError,
    Page,
    UnsupportedFormatError,
)

log = logging.getLogger(__name__)

#: How often the parent reads the child's memory while it waits, in seconds.
POLL_SECONDS = 0.05
#: Seconds a new child may take to start (import the extractors) before it counts as hung;
#: the time limit counts from then, so a slow start on a busy machine is not the file's.
STARTUP_SECONDS = 120
#: RLIMIT_AS of a child: this multiple of the memory limit, and at least
#: ``MIN_ADDRESS_SPACE_MB`` (OCR of a scanned PDF maps 1.3 GB for 0.5 GB resident).
ADDRESS_SPACE_FACTOR = 4
MIN_ADDRESS_SPACE_MB = 4096
#: A child whose resident memory stays above this share of the limit after a file is
#: replaced before the next one, so that one file's leftovers do not count against another.
RETIRE_SHARE = 0.5

_ROOT = str(Path(__file__).resolve().parents[1])  # where the indexer package is imported from


class ExtractionStoppedError(ExtractionError):
    """The child extracting the file was stopped or died; the file may well be intact."""


class MemoryLimitError(ExtractionStoppedError):
    """The child went over the memory limit and was killed."""

    def __init__(self, limit_mb: int, used_mb: int) -> None:
        super().__init__(f"extraction used {used_mb} MB (limit {limit_mb} MB)")
        self.limit_mb = limit_mb
        self.used_mb = used_mb


class TimeLimitError(ExtractionStoppedError):
    """The child made no progress (no new page) for the time limit and was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no progress for {seconds:g} s")
        self.seconds = seconds


class ChildDiedError(ExtractionStoppedError):
    """The child exited on its own mid-file: a crash (a signal) or an exit."""

    def __init__(self, returncode: int | None) -> None:
        if returncode is not None and returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            what = f"killed by {name}"
        else:
            what = f"exit status {returncode}"
        super().__init__(f"the extracting process died ({what})")
        self.returncode = returncode
        self.signal = -returncode if returncode is not None and returncode < 0 else None


class ExtractionCrashError(IndexerError):
    """An unexpected exception (a bug in an extractor) inside the child: its type and text."""

    def __init__(self, type_name: str, message: str, child_traceback: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.child_traceback = child_traceback


class ExtractionSandbox:
    """``detect_file_type``, ``extract_pages`` and ``inspect_file`` run in this thread's
    child, with limits.

    They raise what the in-process functions raise (EncryptedError, UnsupportedFormatError,
    ExtractionError, FileNotFoundError, MemoryError), ExtractionCrashError for any other
    exception, and MemoryLimitError (resident memory above ``memory_mb``), TimeLimitError
    (``timeout`` seconds without a new page) or ChildDiedError, after which the next call
    starts a fresh child. ``memory_mb`` or ``timeout`` 0: no such limit.
    """

    def __init__(self, memory_mb: int = 2048, timeout: float = 600) -> None:
        self.memory_mb = memory_mb
        self.timeout = timeout

    def detect_file_type(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        return str(self._call(("detect", os.fspath(path), name)))

    def extract_pages(
        self,
        path: str | os.PathLike[str],
        file_type: str | None = None,
        *,
        ocr: bool = True,
        ocr_dpi: int = 150,
        max_ocr_pages: int = 200,
    ) -> list[Page]:
        pages: list[Page] = self._call(
            ("extract", os.fspath(path), file_type, ocr, ocr_dpi, max_ocr_pages)
        )
        return pages

    def inspect_file(self, path: str | os.PathLike[str], file_type: str | None) -> FileFacts:
        """Signatures and metadata (``indexer.inspect_file``), read in the child."""
        facts: FileFacts = self._call(("facts", os.fspath(path), file_type))
        return facts

    def _call(self, request: tuple[Any, ...]) -> Any:
        fence = max(self.memory_mb * ADDRESS_SPACE_FACTOR, MIN_ADDRESS_SPACE_MB)
        child = _child(fence if self.memory_mb else 0)
        try:
            result = child.call(request, self.memory_mb, self.timeout)
        except ExtractionStoppedError:
            _drop_child()
            raise
        if self.memory_mb and child.rss_kb() > self.memory_mb * 1024 * RETIRE_SHARE:
            _drop_child()
        return result


def stop_child() -> None:
    """Stop this thread's child (a worker thread that ends; tests)."""
    _drop_child()


def child_pid() -> int | None:
    """The process id of this thread's child, if it has a running one."""
    child: _Child | None = getattr(_local, "child", None)
    return child.proc.pid if child is not None and child.usable() else None


# -- the parent's side -----------------------------------------------------------------------

_local = threading.local()


def _child(address_space_mb: int) -> _Child:
    child: _Child | None = getattr(_local, "child", None)
    if child is not None and (not child.usable() or child.address_space_mb != address_space_mb):
        _drop_child()
        child = None
    if child is None:
        child = _local.child = _Child(address_space_mb)
    return child


def _drop_child() -> None:
    child: _Child | None = getattr(_local, "child", None)
    _local.child = None
    if child is not None:
        child.stop()


class _Child:
    """One extraction process and the socket to it; stopped when dropped or at exit."""

    def __init__(self, address_space_mb: int) -> None:
        self.address_space_mb = address_space_mb
        self.owner = os.getpid()
        # False from a request until its last answer: a call interrupted in between (a
        # KeyboardInterrupt) leaves a child whose next answer is not for the next request
        self.idle = True
        self.ready = False  # it says so once its imports are done
        ours, theirs = socket.socketpair()
        with ours, theirs:
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [_ROOT, env.get("PYTHONPATH")]))
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from indexer._sandbox import serve; serve()",
                    str(theirs.fileno()),
                    str(address_space_mb),
                    str(os.getpid()),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=env,
                # its own process group: a kill reaches a converter it runs (catdoc), and
                # the terminal's Ctrl-C reaches only the worker, which stops it
                process_group=0,
            )
            self.conn = Connection(ours.detach())
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.conn, self.owner)

    def usable(self) -> bool:
        """Alive, idle and started by this process (not inherited through a fork)."""
        return self.idle and self.owner == os.getpid() and self.proc.poll() is None

    def stop(self) -> None:
        self._finalizer()

    def rss_kb(self) -> int:
        return _tree_rss_kb(self.proc.pid)

    def call(self, request: tuple[Any, ...], memory_mb: int, timeout: float) -> Any:
        """Send a request and wait for its answer, watching memory, progress and life."""
        self.idle = False
        try:
            self.conn.send(request)
        except OSError:
            raise ChildDiedError(self._reap()) from None
        pages: list[Page] = []
        started = time.monotonic()
        deadline = started + timeout if timeout and self.ready else None
        while True:
            if self.conn.poll(POLL_SECONDS):
                try:
                    message = self.conn.recv()
                except (EOFError, OSError):
                    raise ChildDiedError(self._reap()) from None
                kind = message[0]
                if kind == "ready":
                    self.ready = True
                    deadline = time.monotonic() + timeout if timeout else None
                    continue
                if kind == "page":
                    pages.append(Page(*message[1:]))
                    if deadline is not None:
                        deadline = time.monotonic() + timeout
                    continue
                self.idle = True  # the last answer to this request
                if kind == "result":
                    return message[1]
                if kind == "done":
                    return pages
                if message[1] == "memory" and memory_mb:  # it hit the address-space fence
                    used = self.rss_kb() // 1024
                    self._kill()
                    raise MemoryLimitError(memory_mb, used)
                raise _error(*message[1:])
            if memory_mb:
                used = self.rss_kb()
                if used > memory_mb * 1024:
                    self._kill()
                    log.warning(
                        "extraction of %s stopped at %d MB (limit %d MB)",
                        request[1],
                        used // 1024,
                        memory_mb,
                    )
                    raise MemoryLimitError(memory_mb, used // 1024)
            if not self.ready and time.monotonic() - started > STARTUP_SECONDS:
                self._kill()
                log.warning("the extraction child did not start in %d s", STARTUP_SECONDS)
                raise TimeLimitError(STARTUP_SECONDS)
            if deadline is not None and time.monotonic() > deadline:
                self._kill()
                log.warning("extraction of %s stopped after %g s", request[1], timeout)
                raise TimeLimitError(timeout)
            if self.proc.poll() is not None and not self.conn.poll(0):
                raise ChildDiedError(self._reap())

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> int | None:
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def _stop(proc: subprocess.Popen[bytes], conn: Connection, owner: int) -> None:
    """Close the socket (an idle child then exits) and make sure the child is gone."""
    conn.close()
    if os.getpid() != owner:  # a forked copy of the parent: the child is not ours
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _error(category: str, type_name: str, message: str, child_traceback: str) -> Exception:
    """The exception to raise in the parent for what the child reported."""
    if category == "encrypted":
        return EncryptedError(message)
    if category == "unsupported":
        return UnsupportedFormatError(message)
    if category == "extraction":
        return ExtractionError(message)
    if category == "missing":
        return FileNotFoundError(message)
    if category == "memory":
        return MemoryError(message)
    return ExtractionCrashError(type_name, message, child_traceback)


def _tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB (0 once they are gone)."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


# -- the child's side ------------------------------------------------------------------------


def serve() -> None:
    """The child's loop: read a request, answer with the type, the pages one by one and
    "done" (or an error); exit when the parent closes the socket or goes away."""
    fd, address_space_mb, parent = (int(a) for a in sys.argv[1:4])
    _die_with_parent(parent)
    if address_space_mb > 0:
        import resource

        limit = address_space_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn = Connection(fd)
    try:
        conn.send(("ready",))
    except OSError:
        return
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            _answer(conn, *request)
        except OSError:  # the parent went away
            return


def _answer(conn: Connection, action: str, path: str, *args: Any) -> None:
    """Answer one request: ("detect", path, name), ("facts", path, type) or ("extract",
    path, type, ocr settings)."""
    try:
        if action == "detect":
            answer: tuple[Any, ...] = ("result", detect_file_type(path, *args))
        elif action == "facts":
            answer = ("result", inspect_file(path, *args))
        else:
            file_type, ocr, ocr_dpi, max_ocr_pages = args
            pages = extract_pages(
                path, file_type, ocr=ocr, ocr_dpi=ocr_dpi, max_ocr_pages=max_ocr_pages
            )
            for page in pages:  # one by one: the child never holds them all
                conn.send(("page", page.number, page.text, page.source, page.rotation))
            answer = ("done",)
    except ConnectionError:  # the parent stopped listening
        raise
    except Exception as e:
        answer = ("error", _category(e), type(e).__name__, str(e), traceback.format_exc())
    conn.send(answer)


def _category(e: Exception) -> str:
    if isinstance(e, EncryptedError):
        return "encrypted"
    if isinstance(e, UnsupportedFormatError):
        return "unsupported"
    if isinstance(e, ExtractionError):
        return "extraction"
    if isinstance(e, MemoryError):
        return "memory"
    if isinstance(e, FileNotFoundError):
        return "missing"
    return "crash"


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this process when the thread that started it ends (a killed
    worker), and exit at once if that already happened."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(0)
