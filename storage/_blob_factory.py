"""Open the blob store a configuration names: a folder, or an S3 bucket and prefix."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from storage._blobs import BlobStoreBase, LocalBlobStore
from storage._errors import StorageError
from storage._s3 import S3BlobStore, make_s3_client


def open_blob_store(
    location: str | Path,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    presign_downloads: bool = False,
    tmp_dir: Path | str | None = None,
) -> BlobStoreBase:
    """``/path`` or ``file:///path``: a local folder; ``s3://BUCKET/PREFIX``: an S3 bucket
    (``endpoint_url`` for SeaweedFS or MinIO). ``tmp_dir`` is where S3 uploads and
    ``local_path`` copies are spooled; a local store always uses ``root/tmp``."""
    text = str(location)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme == "":
        return LocalBlobStore(Path(text))
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise StorageError(f"a file:// blob store must be on this machine: {text!r}")
        return LocalBlobStore(Path(unquote(parts.path)))
    if scheme == "s3":
        parts = urlsplit(text)
        if not parts.netloc:
            raise StorageError(f"no bucket in {text!r} (expected s3://BUCKET/PREFIX)")
        client = make_s3_client(
            endpoint_url=endpoint_url,
            region=region,
            access_key=access_key,
            secret_key=secret_key,
        )
        return S3BlobStore(
            client,
            parts.netloc,
            unquote(parts.path),
            presign_downloads=presign_downloads,
            tmp_dir=tmp_dir,
        )
    raise StorageError(f"unsupported blob store location {text!r} (a path, file:// or s3://)")
