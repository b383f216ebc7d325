"""The content-addressed blob store."""

from __future__ import annotations

import errno
import hashlib
import io
from pathlib import Path

import pytest

from storage import BlobNotFoundError, BlobStore, BlobTooLargeError, StorageError, StorageFullError


def test_put_names_blob_by_sha256_and_dedupes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = "佐证材料".encode() * 1000
    sha, size = store.put_bytes(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert store.path_for(sha) == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert store.put_stream(io.BytesIO(data)) == (sha, size)
    assert list(store.iter_hashes()) == [sha]
    with store.open(sha) as f:
        assert f.read() == data
    assert store.hash_of(sha) == sha
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_paths_are_never_built_from_user_input(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    for bad in ("../../etc/passwd", "a" * 63, "G" * 64, "/abs"):
        with pytest.raises(StorageError):
            store.path_for(bad)


def test_too_large_stream_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobTooLargeError):
        store.put_stream(io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert list(store.iter_hashes()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_disk_full_removes_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path)

    class FullDisk(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return b"y" * 1024

    with pytest.raises(StorageFullError):
        store.put_stream(FullDisk())
    assert list((tmp_path / "tmp").iterdir()) == []


def test_missing_blob_and_altered_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobNotFoundError):
        store.open("0" * 64)
    sha, _ = store.put_bytes(b"original")
    store.path_for(sha).write_bytes(b"tampered")
    assert store.hash_of(sha) != sha
