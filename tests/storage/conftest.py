"""Blob store fixtures: every blob store test runs on a local folder and on a real S3 server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage import BlobStoreBase, LocalBlobStore, S3BlobStore, open_blob_store
from tests._s3 import SeaweedFS


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStoreBase]:
    """An empty store: a folder, or a fresh prefix in the SeaweedFS bucket (presigned
    downloads on, temporary files in ``tmp_path / "s3-tmp"``)."""
    if request.param == "local":
        yield open_blob_store(tmp_path / "blobs")
        return
    server: SeaweedFS = request.getfixturevalue("seaweedfs")
    store = open_blob_store(
        f"s3://{server.bucket}/t-{uuid.uuid4().hex[:12]}/blobs",
        endpoint_url=server.endpoint,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        presign_downloads=True,
        tmp_dir=tmp_path / "s3-tmp",
    )
    yield store
    store.close()


@pytest.fixture
def overwrite_blob(request: pytest.FixtureRequest) -> Callable[[BlobStoreBase, str, bytes], None]:
    """Replace a stored blob's bytes behind the store's back (a local file written over; an
    object put under the same key with a boto3 client of its own)."""

    def overwrite(store: BlobStoreBase, sha256: str, data: bytes) -> None:
        if isinstance(store, LocalBlobStore):
            store.path_for(sha256).write_bytes(data)
            return
        assert isinstance(store, S3BlobStore)
        server: SeaweedFS = request.getfixturevalue("seaweedfs")
        server.client().put_object(Bucket=store.bucket, Key=store.key_for(sha256), Body=data)

    return overwrite
