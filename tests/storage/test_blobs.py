"""The content-addressed blob store: the same tests on a local folder and on a real S3 server
(SeaweedFS, see tests/_s3.py), plus what only one of them has."""

from __future__ import annotations

import errno
import hashlib
import io
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from botocore.exceptions import ClientError

from storage import (
    BlobDamagedError,
    BlobNotFoundError,
    BlobStoreBase,
    BlobTooLargeError,
    LocalBlobStore,
    PutResult,
    S3BlobStore,
    StorageError,
    StorageFullError,
    VerifyingReader,
    VerifyResult,
    open_blob_store,
)
from storage._s3 import content_disposition, make_s3_client
from tests._s3 import SeaweedFS

DATA = "佐证材料：教学质量年度报告".encode() * 1000
SHA = hashlib.sha256(DATA).hexdigest()
BAD_HASHES = ("../../etc/passwd", "a" * 63, "G" * 64, "A" * 64, "/abs", "", "a" * 64 + "/x")
MiB = 1024 * 1024
Overwrite = Callable[[BlobStoreBase, str, bytes], None]


def leftover_files(store: BlobStoreBase) -> list[Path]:
    """Files left in the store's temporary folder (uploads are spooled there)."""
    tmp_dir = getattr(store, "tmp_dir", None)
    if tmp_dir is None or not tmp_dir.is_dir():
        return []
    return sorted(tmp_dir.iterdir())


class PatternStream:
    """``size`` bytes made up on the fly, each MiB different, never all in memory (one MiB
    allocated per read of a MiB)."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = 0
        self.pending = b""
        self.tail = (hashlib.sha256(b"seed").digest() * (MiB // 32))[8:]

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            raise AssertionError("the store must read in chunks, not all at once")
        if not self.pending and self.left:
            self.pending = self.block.to_bytes(8, "big") + self.tail
            self.block += 1
        take = min(n, len(self.pending), self.left)
        if take == len(self.pending):
            chunk, self.pending = self.pending, b""
        else:
            chunk, self.pending = self.pending[:take], self.pending[take:]
        self.left -= take
        return chunk


def pattern_hash(size: int) -> str:
    digest = hashlib.sha256()
    stream = PatternStream(size)
    while chunk := stream.read(MiB):
        digest.update(chunk)
    return digest.hexdigest()


# -- both stores ------------------------------------------------------------------------------


def test_put_open_exists_size_iter(blob_store: BlobStoreBase) -> None:
    assert not blob_store.exists(SHA)
    assert list(blob_store.iter()) == []
    result = blob_store.put(io.BytesIO(DATA))
    assert result == PutResult(SHA, len(DATA), created=True)
    assert blob_store.exists(SHA)
    assert blob_store.size(SHA) == len(DATA)
    assert list(blob_store.iter()) == [SHA]
    with blob_store.open(SHA) as f:
        assert f.read(5) == DATA[:5]
        assert f.read(1000) == DATA[5:1005]
        assert f.read() == DATA[1005:]
        assert f.read(10) == b""
    assert leftover_files(blob_store) == []


def test_same_bytes_are_stored_once(blob_store: BlobStoreBase) -> None:
    assert blob_store.put(io.BytesIO(DATA)).created is True
    assert blob_store.put(io.BytesIO(DATA)) == PutResult(SHA, len(DATA), created=False)
    assert list(blob_store.iter()) == [SHA]
    assert leftover_files(blob_store) == []


def test_empty_blob(blob_store: BlobStoreBase) -> None:
    empty = hashlib.sha256(b"").hexdigest()
    assert blob_store.put(io.BytesIO(b"")) == PutResult(empty, 0, created=True)
    assert blob_store.size(empty) == 0
    with blob_store.open(empty) as f:
        assert f.read() == b""
    assert blob_store.verify(empty) == VerifyResult(empty, "ok", empty, 0)


def test_iter_lists_every_blob(blob_store: BlobStoreBase) -> None:
    blobs = [f"证据 {i}".encode() * (i + 1) for i in range(7)]
    shas = {blob_store.put(io.BytesIO(b)).sha256 for b in blobs}
    assert shas == {hashlib.sha256(b).hexdigest() for b in blobs}
    assert sorted(blob_store.iter()) == sorted(shas)


def test_delete(blob_store: BlobStoreBase) -> None:
    blob_store.put(io.BytesIO(DATA))
    other = blob_store.put(io.BytesIO(b"other")).sha256
    blob_store.delete(SHA)
    assert not blob_store.exists(SHA)
    assert list(blob_store.iter()) == [other]
    with pytest.raises(BlobNotFoundError):
        blob_store.open(SHA)
    with pytest.raises(BlobNotFoundError):
        blob_store.size(SHA)
    with pytest.raises(BlobNotFoundError), blob_store.local_path(SHA):
        pass
    blob_store.delete(SHA)  # already gone: fine
    assert blob_store.exists(other)


def test_verify_ok_altered_missing(blob_store: BlobStoreBase, overwrite_blob: Overwrite) -> None:
    blob_store.put(io.BytesIO(DATA))
    result = blob_store.verify(SHA)
    assert result == VerifyResult(SHA, "ok", SHA, len(DATA))
    assert result.ok
    overwrite_blob(blob_store, SHA, b"tampered")
    result = blob_store.verify(SHA)
    assert result == VerifyResult(SHA, "altered", hashlib.sha256(b"tampered").hexdigest(), 8)
    assert not result.ok
    blob_store.delete(SHA)
    assert blob_store.verify(SHA) == VerifyResult(SHA, "missing", None, None)


def test_too_large_stream_leaves_nothing(blob_store: BlobStoreBase) -> None:
    with pytest.raises(BlobTooLargeError):
        blob_store.put(io.BytesIO(b"x" * 5000), max_bytes=4096)
    with pytest.raises(BlobTooLargeError):
        blob_store.put(PatternStream(3 * MiB), max_bytes=2 * MiB + 1)
    assert list(blob_store.iter()) == []
    assert leftover_files(blob_store) == []
    exact = blob_store.put(io.BytesIO(b"x" * 4096), max_bytes=4096)
    assert exact == PutResult(hashlib.sha256(b"x" * 4096).hexdigest(), 4096, created=True)


def test_disk_full_removes_partial_file(blob_store: BlobStoreBase) -> None:
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
        blob_store.put(FullDisk())
    assert list(blob_store.iter()) == []
    assert leftover_files(blob_store) == []


def test_invalid_hashes_are_refused(blob_store: BlobStoreBase) -> None:
    calls: list[Callable[[str], object]] = [
        blob_store.exists,
        blob_store.size,
        blob_store.delete,
        blob_store.open,
        blob_store.verify,
        lambda sha: blob_store.download_url(sha, "a.pdf", "application/pdf"),
    ]
    for bad in BAD_HASHES:
        for call in calls:
            with pytest.raises(StorageError, match="not a SHA-256") as info:
                call(bad)
            assert type(info.value) is StorageError
        with pytest.raises(StorageError, match="not a SHA-256"), blob_store.local_path(bad):
            pass


def test_local_path(blob_store: BlobStoreBase) -> None:
    blob_store.put(io.BytesIO(DATA))
    with blob_store.local_path(SHA) as path:
        assert path.read_bytes() == DATA
    if isinstance(blob_store, LocalBlobStore):
        assert path == blob_store.path_for(SHA)
        assert path.is_file()  # the blob itself, not a copy
    else:
        assert not path.exists()  # the downloaded copy is gone
    # an error inside the block is not swallowed, and the copy is still removed
    with pytest.raises(ValueError, match="inside"), blob_store.local_path(SHA) as path:
        raise ValueError("inside")
    assert path.exists() == isinstance(blob_store, LocalBlobStore)
    assert leftover_files(blob_store) == []


def test_big_stream_in_bounded_memory(blob_store: BlobStoreBase) -> None:
    size = 20 * MiB
    expected = pattern_hash(size)
    tracemalloc.start()
    try:
        result = blob_store.put(PatternStream(size), max_bytes=size)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        verified = blob_store.verify(expected)
        _, verify_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == PutResult(expected, size, created=True)
    assert verified == VerifyResult(expected, "ok", expected, size)
    assert blob_store.size(expected) == size
    # the test stream holds 2 MiB, the store reads 1 MiB at a time; on S3 each of the 4
    # upload threads reads 1 MiB at a time to sign the part
    limit = 4 * MiB if isinstance(blob_store, LocalBlobStore) else 8 * MiB
    assert put_peak < limit, f"put used {put_peak / MiB:.1f} MiB"
    assert verify_peak < 4 * MiB, f"verify used {verify_peak / MiB:.1f} MiB"
    assert leftover_files(blob_store) == []


def test_download_url(blob_store: BlobStoreBase) -> None:
    blob_store.put(io.BytesIO(DATA))
    url = blob_store.download_url(SHA, "佐证材料 2024.pdf", "application/pdf", expires=60)
    if isinstance(blob_store, LocalBlobStore):
        assert url is None  # the app streams local files itself
        return
    assert url is not None
    assert urlsplit(url).hostname == "127.0.0.1"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as response:
        assert response.read() == DATA
        assert response.headers["Content-Type"] == "application/pdf"
        disposition = response.headers["Content-Disposition"]
    assert disposition == (
        "attachment; filename=\"2024.pdf\"; filename*=UTF-8''"
        "%E4%BD%90%E8%AF%81%E6%9D%90%E6%96%99%202024.pdf"
    )
    assert unquote(disposition.split("UTF-8''")[1]) == "佐证材料 2024.pdf"
    with pytest.raises(StorageError):
        blob_store.download_url(SHA, "a.pdf", "application/pdf", expires=0)


def test_describe_names_the_place_and_no_secret(
    blob_store: BlobStoreBase, request: pytest.FixtureRequest
) -> None:
    text = blob_store.describe()
    if isinstance(blob_store, LocalBlobStore):
        assert text == f"local folder {blob_store.root}"
        return
    assert isinstance(blob_store, S3BlobStore)
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    assert text == f"S3 s3://{server.bucket}/{blob_store.prefix} at {server.endpoint}"
    assert server.secret_key not in text


# -- local only -------------------------------------------------------------------------------


def test_local_layout(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    sha = store.put(io.BytesIO(DATA)).sha256
    assert sha == SHA
    assert store.path_for(sha) == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert store.path_for(sha).read_bytes() == DATA
    with store.local_path(sha) as path:
        assert path == store.path_for(sha)
    assert list(store.iter()) == [sha]
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_local_paths_are_never_built_from_user_input(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    for bad in BAD_HASHES:
        with pytest.raises(StorageError):
            store.path_for(bad)


def test_local_iter_skips_foreign_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put(io.BytesIO(DATA))
    (tmp_path / "ab" / "cd").mkdir(parents=True)
    (tmp_path / "ab" / "cd" / "notes.txt").write_text("x")
    (tmp_path / "tmp" / "up-leftover").write_text("x")
    assert list(store.iter()) == [SHA]


# -- S3 only ----------------------------------------------------------------------------------


@pytest.fixture
def make_s3_store(seaweedfs: SeaweedFS) -> Iterator[Callable[..., S3BlobStore]]:
    """Stores on the test server whose connections are closed after the test."""
    made: list[S3BlobStore] = []

    def make(server: SeaweedFS, prefix: str, **kwargs: Any) -> S3BlobStore:
        made.append(_s3_store(server, prefix, **kwargs))
        return made[-1]

    yield make
    for store in made:
        store.close()


def _s3_store(
    server: SeaweedFS,
    prefix: str,
    *,
    secret_key: str | None = None,
    tmp_dir: Path | None = None,
    list_page_size: int = 1000,
) -> S3BlobStore:
    client = make_s3_client(
        endpoint_url=server.endpoint,
        region=server.region,
        access_key=server.access_key,
        secret_key=secret_key or server.secret_key,
    )
    return S3BlobStore(
        client, server.bucket, prefix, tmp_dir=tmp_dir, list_page_size=list_page_size
    )


def test_s3_layout_and_paginated_iter(
    seaweedfs: SeaweedFS, make_s3_store: Callable[..., S3BlobStore], tmp_path: Path
) -> None:
    store = make_s3_store(seaweedfs, "/layout/blobs/", list_page_size=2, tmp_dir=tmp_path)
    assert store.prefix == "layout/blobs"
    assert store.key_for(SHA) == f"layout/blobs/{SHA[:2]}/{SHA[2:4]}/{SHA}"
    blobs = [f"第{i}份".encode() for i in range(5)]
    shas = sorted(store.put(io.BytesIO(b)).sha256 for b in blobs)
    client = seaweedfs.client()
    body = client.get_object(Bucket=seaweedfs.bucket, Key=store.key_for(shas[0]))["Body"].read()
    assert hashlib.sha256(body).hexdigest() == shas[0]
    # foreign objects next to and under the prefix are not blobs
    fake = "f" * 64
    for key in (
        "layout/blobs/readme.txt",
        f"layout/blobs/00/00/{fake}",
        f"layout/blobsX/{fake[:2]}/{fake[2:4]}/{fake}",
        f"layout/{fake[:2]}/{fake[2:4]}/{fake}",
    ):
        client.put_object(Bucket=seaweedfs.bucket, Key=key, Body=b"x")
    assert sorted(store.iter()) == shas
    assert leftover_files(store) == []


def test_s3_without_presigning_returns_no_url(
    seaweedfs: SeaweedFS, make_s3_store: Callable[..., S3BlobStore]
) -> None:
    store = make_s3_store(seaweedfs, "nopresign")
    store.put(io.BytesIO(DATA))
    assert store.download_url(SHA, "报告.pdf", "application/pdf") is None


def test_s3_errors_are_storage_errors(
    seaweedfs: SeaweedFS, make_s3_store: Callable[..., S3BlobStore], tmp_path: Path
) -> None:
    store = make_s3_store(seaweedfs, "wrongkey", secret_key="not-the-secret", tmp_dir=tmp_path)
    for call in (store.exists, store.size, store.open, store.delete):
        with pytest.raises(StorageError) as info:
            call(SHA)
        assert type(info.value) is StorageError  # refused, not "missing"
        assert isinstance(info.value.__cause__, ClientError)
    with pytest.raises(StorageError):
        store.put(io.BytesIO(DATA))
    with pytest.raises(StorageError):
        list(store.iter())
    assert leftover_files(store) == []


def test_content_disposition_is_safe() -> None:
    header = content_disposition('a"b\r\nX-Evil: 1/../年报.pdf')
    assert "\r" not in header and "\n" not in header
    assert header == (
        "attachment; filename=\"a_bX-Evil_ 1_...pdf\"; filename*=UTF-8''"
        "a_bX-Evil%3A%201_.._%E5%B9%B4%E6%8A%A5.pdf"
    )
    assert content_disposition("") == "attachment; filename=\"download\"; filename*=UTF-8''download"
    assert content_disposition("年报") == (
        "attachment; filename=\"download\"; filename*=UTF-8''%E5%B9%B4%E6%8A%A5"
    )


# -- the factory ------------------------------------------------------------------------------


def test_open_blob_store_locations(tmp_path: Path) -> None:
    local = open_blob_store(tmp_path / "a")
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "a"
    local = open_blob_store(str(tmp_path / "b"))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "b"
    local = open_blob_store(f"file://{tmp_path}/c%20d")
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "c d"
    s3 = open_blob_store(
        "s3://evidence-bucket/school/blobs",
        endpoint_url="http://127.0.0.1:9",
        access_key="AKEXAMPLE",
        secret_key="very-secret",
        presign_downloads=True,
        tmp_dir=tmp_path / "t",
    )
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix, s3.presign_downloads) == ("evidence-bucket", "school/blobs", True)
    assert s3.tmp_dir == tmp_path / "t"
    assert s3.describe() == "S3 s3://evidence-bucket/school/blobs at http://127.0.0.1:9"
    bare = open_blob_store("s3://evidence-bucket", endpoint_url="http://127.0.0.1:9")
    assert isinstance(bare, S3BlobStore)
    assert bare.key_for(SHA) == f"{SHA[:2]}/{SHA[2:4]}/{SHA}"
    for bad in ("s3:///prefix", "s3://Bad_Bucket/x", "s3://ab/x", "ftp://host/x", "file://host/x"):
        with pytest.raises(StorageError):
            open_blob_store(bad, endpoint_url="http://127.0.0.1:9")


@pytest.mark.parametrize("read_size", [1000, 8192, 1024 * 1024, 3 * 1024 * 1024, -1])
def test_verifying_reader_gives_the_bytes_and_holds_the_last_back_when_damaged(
    read_size: int,
) -> None:
    data = bytes(range(256)) * (2 * 1024 * 1024 // 256 + 3)  # a little over two chunks
    sha = hashlib.sha256(data).hexdigest()
    chunks = []
    with VerifyingReader(io.BytesIO(data), sha) as reader:
        while chunk := reader.read(read_size if read_size > 0 else -1):
            chunks.append(chunk)
            if read_size < 0:
                break
    assert b"".join(chunks) == data

    damaged = bytearray(data)
    damaged[-1] ^= 1
    seen: list[BlobDamagedError] = []
    got = b""
    with pytest.raises(BlobDamagedError):
        reader = VerifyingReader(io.BytesIO(bytes(damaged)), sha, seen.append)
        while chunk := reader.read(read_size):
            got += chunk
    assert len(got) < len(data)  # never the whole (wrong) content
    assert seen and seen[0].actual == hashlib.sha256(damaged).hexdigest()
