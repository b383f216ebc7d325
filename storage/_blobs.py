"""Content-addressed blob store: files named by SHA-256, written atomically."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from storage._errors import BlobNotFoundError, BlobTooLargeError, StorageError, StorageFullError

CHUNK = 1024 * 1024
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """Blobs live at ``root/ab/cd/abcd…``; names come from the hash, never from users."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.tmp_dir = self.root / "tmp"

    def path_for(self, sha256: str) -> Path:
        if not _SHA_RE.match(sha256):
            raise StorageError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> tuple[str, int]:
        """Store a stream; returns (sha256, size). Streams to a temp file, fsyncs, renames."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="up-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLargeError(f"file larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                os.unlink(tmp_name)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, final)
                _fsync_dir(final.parent)
            return sha, size
        except OSError as e:
            _unlink_quietly(tmp_name)
            if e.errno == 28:  # ENOSPC
                raise StorageFullError("no space left while writing a blob") from e
            raise StorageError(f"could not write blob: {e}") from e
        except BaseException:
            _unlink_quietly(tmp_name)
            raise

    def put_file(self, path: Path | str, max_bytes: int | None = None) -> tuple[str, int]:
        with open(path, "rb") as f:
            return self.put_stream(f, max_bytes=max_bytes)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        import io

        return self.put_stream(io.BytesIO(data))

    def open(self, sha256: str) -> BinaryIO:
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError as e:
            raise BlobNotFoundError(sha256) from e

    def hash_of(self, sha256: str) -> str:
        """Re-hash a stored blob (for verification)."""
        digest = hashlib.sha256()
        with self.open(sha256) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def iter_hashes(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in self.root.glob("??/??/*"):
            if path.is_file() and _SHA_RE.match(path.name):
                yield path.name

    def delete(self, sha256: str) -> None:
        _unlink_quietly(self.path_for(sha256))


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
