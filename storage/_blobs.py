"""Content-addressed blob store: the interface, and the local-folder implementation.

Blobs are named by the SHA-256 of their bytes, never by a user's file name. Every method
that takes a hash validates it first, so no caller can smuggle a path or a key through.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from storage._errors import (
    BlobDamagedError,
    BlobNotFoundError,
    BlobTooLargeError,
    StorageError,
    StorageFullError,
)

CHUNK = 1024 * 1024
TEMP_PREFIXES = ("up-", "get-")  # spooled uploads, local copies of S3 blobs
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class ReadableStream(Protocol):
    """Anything with ``read(n)``: an open file, an upload stream, ``io.BytesIO``."""

    def read(self, size: int = -1, /) -> bytes | None: ...


@dataclass(frozen=True)
class PutResult:
    """What ``put`` stored: the hash, the size, and whether these bytes were new."""

    sha256: str
    size: int
    created: bool


@dataclass(frozen=True)
class VerifyResult:
    """A stored blob re-hashed: ``ok``, ``missing`` or ``altered`` (with what it holds now)."""

    sha256: str
    status: Literal["ok", "missing", "altered"]
    actual_sha256: str | None = None
    size: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def check_sha256(sha256: str) -> str:
    """The hash itself if it is 64 lower-case hex digits; anything else is refused."""
    if not isinstance(sha256, str) or not _SHA_RE.match(sha256):
        raise StorageError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def is_sha256(name: str) -> bool:
    return bool(_SHA_RE.match(name))


class BlobStoreBase(ABC):
    """The one interface to blobs; nothing else builds a blob path or key."""

    #: where ``put`` spools and ``local_path`` copies (None: the system's temporary folder)
    tmp_dir: Path | None = None

    @abstractmethod
    def put(self, stream: ReadableStream, max_bytes: int | None = None) -> PutResult:
        """Store a stream, hashing while writing, in bounded memory.

        More than ``max_bytes`` raises BlobTooLargeError and keeps nothing; a full disk
        raises StorageFullError; any other failure raises StorageError.
        """

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """A readable binary stream of the blob (close it); BlobNotFoundError if missing."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abstractmethod
    def size(self, sha256: str) -> int:
        """The stored size in bytes; BlobNotFoundError if missing."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the blob; a blob that is already gone is fine."""

    @abstractmethod
    def iter(self) -> Iterator[str]:
        """Every stored hash, in no particular order."""

    @abstractmethod
    def local_path(self, sha256: str) -> AbstractContextManager[Path]:
        """A filesystem path holding the blob's bytes while the ``with`` block runs, for
        libraries that only read paths (pdfium, python-docx). Read it, never write it."""

    @abstractmethod
    def describe(self) -> str:
        """Where the blobs are, for logs (no secrets)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (S3's pool)."""

    def download_url(
        self, sha256: str, filename: str, mimetype: str, expires: int = 300
    ) -> str | None:
        """A URL the browser can download the blob from directly, or None to stream it
        through the app (the default)."""
        check_sha256(sha256)
        return None

    def stale_temporaries(self, older_than: float = 3600.0) -> list[Path]:
        """This store's temporary files older than ``older_than`` seconds: left behind by a
        process that was killed while it wrote or read a blob (``evidence verify``)."""
        if self.tmp_dir is None or not self.tmp_dir.is_dir():
            return []
        cutoff = time.time() - older_than
        found = []
        for path in self.tmp_dir.iterdir():
            try:
                if path.name.startswith(TEMP_PREFIXES) and path.stat().st_mtime < cutoff:
                    found.append(path)
            except FileNotFoundError:  # finished meanwhile
                continue
        return sorted(found)

    def verify(self, sha256: str) -> VerifyResult:
        """Re-hash the stored bytes (``evidence verify``)."""
        try:
            stream = self.open(sha256)
        except BlobNotFoundError:
            return VerifyResult(sha256, "missing")
        with stream:
            actual, size = hash_stream(stream)
        return VerifyResult(sha256, "ok" if actual == sha256 else "altered", actual, size)


class LocalBlobStore(BlobStoreBase):
    """Blobs live at ``root/ab/cd/abcd…``, written to ``root/tmp`` first, fsynced, renamed."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"  # same filesystem as the blobs: the rename is atomic

    def path_for(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: ReadableStream, max_bytes: int | None = None) -> PutResult:
        with spooled_upload(stream, max_bytes, self.tmp_dir) as spool:
            final = self.path_for(spool.sha256)
            if final.exists():
                return PutResult(spool.sha256, spool.size, created=False)
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(spool.path, final)
                _fsync_dir(final.parent)
            except OSError as e:
                raise storage_error_for(e, "could not store a blob") from e
            return PutResult(spool.sha256, spool.size, created=True)

    def open(self, sha256: str) -> BinaryIO:
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError as e:
            raise BlobNotFoundError(sha256) from e

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError as e:
            raise BlobNotFoundError(sha256) from e

    def delete(self, sha256: str) -> None:
        _unlink_quietly(self.path_for(sha256))

    def iter(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/??/*"):
            if is_sha256(path.name) and path.is_file():
                yield path.name

    @contextmanager
    def local_path(self, sha256: str) -> Iterator[Path]:
        """The blob's own file (no copy)."""
        path = self.path_for(sha256)
        if not path.is_file():
            raise BlobNotFoundError(sha256)
        yield path

    def close(self) -> None:
        """Nothing to release: files are opened per call."""

    def describe(self) -> str:
        return f"local folder {self.root}"


# -- helpers shared by the implementations ------------------------------------------------------


@dataclass(frozen=True)
class Spool:
    """A stream copied to a local temporary file, with its hash and size."""

    path: Path
    sha256: str
    size: int


@contextmanager
def spooled_upload(
    stream: ReadableStream, max_bytes: int | None, tmp_dir: Path | None, *, fsync: bool = True
) -> Iterator[Spool]:
    """Copy ``stream`` to a temporary file in ``tmp_dir``, hashing and counting in chunks of
    CHUNK bytes (fsynced when it is to become the blob itself). The file is removed at exit
    unless the caller moved it away."""
    if tmp_dir is not None:
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise storage_error_for(e, "could not create the temporary folder") from e
    try:
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="up-")
    except OSError as e:
        raise storage_error_for(e, "could not create a temporary file") from e
    try:
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLargeError(f"file larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                if fsync:
                    out.flush()
                    os.fsync(out.fileno())
        except OSError as e:
            raise storage_error_for(e, "could not write a blob") from e
        yield Spool(Path(tmp_name), digest.hexdigest(), size)
    finally:
        _unlink_quietly(tmp_name)


class VerifyingReader:
    """A blob stream that checks the hash while it is read.

    It hands out nothing it has not read past: at least one byte stays held back until the
    end of the stream is reached and the hash compared, so a damaged blob raises
    BlobDamagedError before its last bytes leave, and a client never receives a complete
    copy of wrong content. ``on_damage`` runs first (to record the damage)."""

    def __init__(
        self,
        stream: BinaryIO,
        sha256: str,
        on_damage: Callable[[BlobDamagedError], None] | None = None,
    ) -> None:
        self._stream = stream
        self._sha256 = check_sha256(sha256)
        self._on_damage = on_damage
        self._digest = hashlib.sha256()
        self._size = 0
        self._held = b""
        self._pos = 0
        self._verified = False

    def read(self, size: int = -1, /) -> bytes:
        while not self._verified and (size < 0 or len(self._held) - self._pos <= size):
            self._pull()
        end = len(self._held) if size < 0 else min(len(self._held), self._pos + size)
        out = self._held[self._pos : end]
        self._pos = end
        return out

    def _pull(self) -> None:
        chunk = self._stream.read(CHUNK)
        if chunk:
            self._digest.update(chunk)
            self._size += len(chunk)
            # small reads take slices at _pos; the rest is copied once per chunk pulled
            self._held = self._held[self._pos :] + chunk
            self._pos = 0
            return
        actual = self._digest.hexdigest()
        if actual != self._sha256:
            error = BlobDamagedError(self._sha256, actual, self._size)
            if self._on_damage is not None:
                self._on_damage(error)
            raise error
        self._verified = True

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hash_stream(stream: ReadableStream) -> tuple[str, int]:
    """SHA-256 and length of everything left in ``stream``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def storage_error_for(error: OSError, what: str) -> StorageError:
    """StorageFullError for a full disk (or quota), StorageError for anything else."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(f"no space left: {what}")
    return StorageError(f"{what}: {error}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
