"""Upload bodies read as they arrive: every file part is capped while it streams in, and
part headers written by programs that do not use UTF-8 (GBK or Big5 file names) are read.

Werkzeug's own multipart reader drops a whole request whose part header is not UTF-8 (the
upload then looked like one without files), and it has no per-file limit: a file over the
upload limit was spooled to the end before anything refused it. Here a file part that
passes its limit stops the reading at once with a 413 that names the file.
"""

from __future__ import annotations

import tempfile
from typing import IO, Any

from flask import Request, current_app
from werkzeug.datastructures import FileStorage, Headers, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Event,
    Field,
    File,
    MultipartDecoder,
    NeedData,
)

from evidence_app.documents.archives import legacy_encoding

MB = 1024 * 1024
READ_CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 500 * 1024  # like werkzeug: small files stay in memory


class UploadTooLargeError(RequestEntityTooLarge):
    """One file of an upload is over its limit; the request was not read further."""

    def __init__(self, filename: str, limit: int) -> None:
        self.filename = "".join(c if c.isprintable() else "?" for c in filename)[:200]
        self.limit = limit
        super().__init__(description=f"文件超过上传上限（{size_label(limit)}），未接收")


def size_label(n: int) -> str:
    """A limit as people say it: "200 MB", "1.5 MB", "512 KB"."""
    if n >= MB:
        return f"{n / MB:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, n // 1024)} KB"


def file_limit(filename: str | None) -> int:
    """The most bytes one uploaded file may have: ZIPs up to their unpacked total, any other
    file up to the upload limit."""
    config = current_app.extensions["evidence"].config
    if (filename or "").lower().endswith(".zip"):
        return int(config.ZIP_MAX_TOTAL_BYTES)
    return int(config.MAX_UPLOAD_BYTES)


class CappedSpool(tempfile.SpooledTemporaryFile[bytes]):
    """A temporary file for one uploaded file that refuses to grow past ``limit``."""

    def __init__(self, filename: str, limit: int) -> None:
        super().__init__(max_size=SPOOL_IN_MEMORY, mode="w+b")
        self.filename = filename
        self.limit = limit
        self.written = 0

    def write(self, data: Any) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise UploadTooLargeError(self.filename, self.limit)
        return super().write(data)


class _Decoder(MultipartDecoder):
    """Part headers that are not UTF-8 are read as the GBK or Big5 that wrote them."""

    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        try:
            return super()._parse_headers(data)
        except UnicodeDecodeError:
            raw = bytes(data)
            text = raw.decode(legacy_encoding([raw]), "replace")
            return super()._parse_headers(text.encode("utf-8"))


class _Parts:
    """The fields and files of one body, filled event by event."""

    def __init__(self, parser: UploadFormParser, content_length: int | None) -> None:
        self.parser = parser
        self.content_length = content_length
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, FileStorage]] = []
        self.part: Field | File | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.spool: IO[bytes] | None = None

    def take(self, event: Event) -> None:
        if isinstance(event, Field):
            self.part, self.chunks, self.size = event, [], 0
        elif isinstance(event, File):
            self.part = event
            self.spool = self.parser.stream_factory(
                total_content_length=self.content_length,
                content_type=event.headers.get("content-type"),
                filename=event.filename,
            )
        elif not isinstance(event, Data):
            return  # a preamble
        elif isinstance(self.part, Field):
            self.size += len(event.data)
            limit = self.parser.max_form_memory_size
            if limit and self.size > limit:
                raise RequestEntityTooLarge()
            self.chunks.append(event.data)
            if not event.more_data:
                value = b"".join(self.chunks).decode("utf-8", "replace")
                self.fields.append((self.part.name, value))
        elif isinstance(self.part, File) and self.spool is not None:
            self.spool.write(event.data)  # a CappedSpool raises past its limit
            if not event.more_data:
                self.spool.seek(0)
                part = self.part
                storage = FileStorage(self.spool, part.filename, part.name, headers=part.headers)
                self.files.append((part.name, storage))
                self.spool = None

    def close(self) -> None:
        for _, storage in self.files:
            storage.close()
        if self.spool is not None:
            self.spool.close()


class UploadFormParser(FormDataParser):
    """multipart/form-data read through ``_Decoder``, each file into the request's stream
    factory (a ``CappedSpool``), fields bounded by ``max_form_memory_size``."""

    def _parse_multipart(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[IO[bytes], MultiDict[str, Any], MultiDict[str, Any]]:
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        decoder = _Decoder(
            boundary, max_form_memory_size=self.max_form_memory_size, max_parts=self.max_form_parts
        )
        parts = _Parts(self, content_length)
        try:
            while True:
                data = stream.read(READ_CHUNK)
                decoder.receive_data(data or None)
                event = decoder.next_event()
                while not isinstance(event, (Epilogue, NeedData)):
                    parts.take(event)
                    event = decoder.next_event()
                if isinstance(event, Epilogue) or not data:
                    break
        except BaseException:
            parts.close()
            raise
        return stream, self.cls(parts.fields), self.cls(parts.files)


class UploadRequest(Request):
    """The app's request: uploads parsed by ``UploadFormParser`` into capped spools."""

    form_data_parser_class = UploadFormParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        name = filename or ""
        return CappedSpool(name, file_limit(name))
