"""Blobs in an S3 bucket (AWS, or SeaweedFS / MinIO with path-style addressing).

Keys are ``PREFIX/ab/cd/<sha256>``, built only from a validated hash. Uploads go through a
local temporary file first: the hash names the key, so it must be known before the upload,
and the size limit is enforced before anything reaches the bucket.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast
from urllib.parse import quote

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from storage._blobs import (
    CHUNK,
    BlobStoreBase,
    PutResult,
    ReadableStream,
    check_sha256,
    is_sha256,
    spooled_upload,
    storage_error_for,
)
from storage._errors import BlobNotFoundError, StorageError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from types_boto3_s3.client import S3Client

MB = 1024 * 1024
# upload_file (not upload_fileobj): from a file *name*, s3transfer reads each part lazily;
# from a file object it reads whole parts into memory, up to max_concurrency of them.
DEFAULT_TRANSFER = TransferConfig(
    multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=4
)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # the SigV4 maximum
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MIMETYPE_RE = re.compile(r"^[A-Za-z0-9][\w!#$&^.+-]*/[\w!#$&^.+-]+(; ?[\w.-]+=[\w.-]+)*$")
# RFC 5987 attr-char, besides the letters, digits and "_.-~" that quote() always keeps
_ATTR_CHARS = "!#$&+^`|"


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> S3Client:
    """An S3 client: signature v4, path-style addressing (SeaweedFS, MinIO), explicit keys
    when given, else boto3's own lookup (instance role, ~/.aws)."""
    session = boto3.session.Session(
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        region_name=region or None,
    )
    config = BotoConfig(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        # the newer default CRC checksums (aws-chunked trailers) are not understood by every
        # S3-compatible server; integrity is covered by the signed payload and by `verify`
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return session.client("s3", endpoint_url=endpoint_url or None, config=config)


class S3BlobStore(BlobStoreBase):
    """Blobs as objects ``PREFIX/ab/cd/<sha256>`` in one bucket."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        prefix: str = "",
        *,
        presign_downloads: bool = False,
        tmp_dir: Path | str | None = None,
        transfer_config: TransferConfig = DEFAULT_TRANSFER,
        list_page_size: int = 1000,
    ) -> None:
        if not _BUCKET_RE.match(bucket):
            raise StorageError(f"not a valid S3 bucket name: {bucket!r}")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.presign_downloads = presign_downloads
        self.tmp_dir = Path(tmp_dir) if tmp_dir is not None else None  # None: the system's
        self.transfer_config = transfer_config
        self.list_page_size = list_page_size

    def key_for(self, sha256: str) -> str:
        check_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, stream: ReadableStream, max_bytes: int | None = None) -> PutResult:
        # no fsync: the temporary file is only read back for the upload
        with spooled_upload(stream, max_bytes, self.tmp_dir, fsync=False) as spool:
            key = self.key_for(spool.sha256)
            if self._head_size(key) is not None:
                return PutResult(spool.sha256, spool.size, created=False)
            try:
                self.client.upload_file(
                    str(spool.path),
                    self.bucket,
                    key,
                    ExtraArgs={"ContentType": "application/octet-stream"},
                    Config=self.transfer_config,
                )
            except (BotoCoreError, ClientError, Boto3Error) as e:
                raise StorageError(f"could not upload blob {spool.sha256}: {e}") from e
            return PutResult(spool.sha256, spool.size, created=True)

    def open(self, sha256: str) -> BinaryIO:
        """The object's body as a stream: read as it is consumed, never all at once."""
        key = self.key_for(sha256)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as e:
            if _error_code(e) in _NOT_FOUND:
                raise BlobNotFoundError(sha256) from e
            raise StorageError(f"could not read blob {sha256}: {e}") from e
        except BotoCoreError as e:
            raise StorageError(f"could not read blob {sha256}: {e}") from e
        raw = _BodyReader(response["Body"], sha256)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=64 * 1024))

    def exists(self, sha256: str) -> bool:
        return self._head_size(self.key_for(sha256)) is not None

    def size(self, sha256: str) -> int:
        size = self._head_size(self.key_for(sha256))
        if size is None:
            raise BlobNotFoundError(sha256)
        return size

    def delete(self, sha256: str) -> None:
        key = self.key_for(sha256)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as e:
            raise StorageError(f"could not delete blob {sha256}: {e}") from e

    def iter(self) -> Iterator[str]:
        """Every ``PREFIX/ab/cd/<sha256>`` key, page by page (list_objects_v2)."""
        list_prefix = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket,
            Prefix=list_prefix,
            PaginationConfig={"PageSize": self.list_page_size},
        )
        try:
            for page in pages:
                for entry in page.get("Contents", []):
                    parts = entry["Key"][len(list_prefix) :].split("/")
                    if (
                        len(parts) == 3
                        and is_sha256(parts[2])
                        and parts[0] == parts[2][:2]
                        and parts[1] == parts[2][2:4]
                    ):
                        yield parts[2]
        except (BotoCoreError, ClientError) as e:
            raise StorageError(f"could not list blobs in {self.describe()}: {e}") from e

    @contextmanager
    def local_path(self, sha256: str) -> Iterator[Path]:
        """A private temporary copy, downloaded in chunks and removed at exit."""
        with self.open(sha256) as src:
            try:
                if self.tmp_dir is not None:
                    self.tmp_dir.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="get-")
            except OSError as e:
                raise storage_error_for(e, "could not create a temporary file") from e
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            except OSError as e:
                os.unlink(name)
                raise storage_error_for(e, f"could not download blob {sha256}") from e
            except BaseException:
                os.unlink(name)
                raise
        try:
            yield Path(name)
        finally:
            os.unlink(name)

    def download_url(
        self, sha256: str, filename: str, mimetype: str, expires: int = 300
    ) -> str | None:
        """A presigned GET URL that downloads the blob as an attachment named ``filename``,
        or None unless presigned downloads are switched on."""
        key = self.key_for(sha256)
        if not self.presign_downloads:
            return None
        if not 0 < expires <= MAX_PRESIGN_SECONDS:
            raise StorageError(f"expires must be 1..{MAX_PRESIGN_SECONDS} seconds")
        if not _MIMETYPE_RE.match(mimetype):
            mimetype = "application/octet-stream"
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": content_disposition(filename),
                    "ResponseContentType": mimetype,
                },
                ExpiresIn=expires,
            )
        except (BotoCoreError, ClientError) as e:
            raise StorageError(f"could not sign a download URL: {e}") from e

    def close(self) -> None:
        self.client.close()

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        return f"S3 {where} at {self.client.meta.endpoint_url}"

    def _head_size(self, key: str) -> int | None:
        """The object's size, or None if there is no such object."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        except ClientError as e:
            if _error_code(e) in _NOT_FOUND:
                return None
            raise StorageError(f"could not look up {key} in {self.describe()}: {e}") from e
        except BotoCoreError as e:
            raise StorageError(f"could not look up {key} in {self.describe()}: {e}") from e


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the real name as RFC 5987
    ``filename*=UTF-8''…``, so Chinese names survive; no control characters or slashes."""
    name = "".join(
        "_" if c in '/\\"' else c for c in filename if unicodedata.category(c)[0] != "C"
    ).strip()
    name = name or "download"
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    fallback_ext = _ascii_only(ext)
    fallback_stem = _ascii_only(stem) or "download"
    fallback = f"{fallback_stem}.{fallback_ext}" if fallback_ext else fallback_stem
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _ascii_only(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._() -]", "_", ascii_text).strip(" _")


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class _BodyReader(io.RawIOBase):
    """An S3 streaming body as a raw file, so it can be buffered and read(n) in chunks;
    read errors become StorageError."""

    def __init__(self, body: StreamingBody, sha256: str) -> None:
        self._body = body
        self._sha256 = sha256

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except BotoCoreError as e:
            raise StorageError(f"could not read blob {self._sha256}: {e}") from e
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
