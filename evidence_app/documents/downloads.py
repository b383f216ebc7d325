"""The one way a document version is downloaded, shared by the pages and the API.

Every byte is checked against the version's SHA-256 while it streams out
(``storage.VerifyingReader``): a damaged file stops before its last bytes, is marked damaged
(``Blob.damaged_at``, an audit record, a finding), and is refused from then on with a clear
409 until ``evidence verify`` finds it whole again (restored from a backup)."""

from __future__ import annotations

import logging
from functools import partial
from typing import IO, cast

from flask import redirect, request, send_file
from sqlalchemy.orm import Session, object_session
from werkzeug.exceptions import Conflict
from werkzeug.wrappers import Response

from evidence_app.admin import audit
from evidence_app.auth.security import acting_user
from evidence_app.documents.operations import mimetype_for
from evidence_app.runtime import Runtime
from evidence_app.web import keep_changes
from storage import Blob, BlobDamagedError, DocumentVersion, User, VerifyingReader, utcnow

log = logging.getLogger(__name__)


class DamagedFileError(Conflict):
    """The stored bytes do not match the hash recorded at upload."""

    description = (
        "文件内容已损坏：存储中的文件与上传时记录的校验值（SHA-256）不符，已停止下载并记录。"
        "请联系管理员从备份恢复（evidence restore）或重新上传此文件"
    )


def download_response(runtime: Runtime, version: DocumentVersion) -> Response:
    """A redirect to the store's own URL when it gives one (presigned S3), else the bytes
    streamed from the store and checked on the way; the callers write the audit record."""
    session = object_session(version)
    assert session is not None
    sha = version.blob_sha256
    blob = session.get(Blob, sha)
    if blob is not None and blob.damaged_at is not None:
        raise DamagedFileError()
    name = version.original_name
    mimetype = mimetype_for(name)
    url = runtime.blobs.download_url(sha, name, mimetype)
    if url is not None:  # the bucket serves the bytes; `evidence verify` checks them there
        return redirect(url, code=302)
    user = acting_user()
    if request.range is not None:
        # a part cannot be checked on its own: the whole file is, before any part is sent
        checked = runtime.blobs.verify(sha)
        if checked.status == "altered":
            mark_damaged(session, sha, checked.actual_sha256 or "", version.document_id, user)
            keep_changes()
            raise DamagedFileError()
    size = runtime.blobs.size(sha)
    on_damage = partial(_record_damage, runtime, version.document_id, user.id if user else None)
    response = send_file(
        cast(IO[bytes], VerifyingReader(runtime.blobs.open(sha), sha, on_damage)),
        as_attachment=True,
        download_name=name,
        mimetype=mimetype,
        conditional=False,
        etag=sha,  # the hash names the content: a strong ETag
    )
    # a stream has no length of its own: with the store's size, Range requests and 304s work
    response.content_length = size
    return response.make_conditional(request, accept_ranges=True, complete_length=size)


def mark_damaged(
    session: Session, sha256: str, actual: str, document_id: int | None, user: User | None
) -> None:
    """Record that a blob's bytes no longer match its hash (once: the first finding counts)."""
    blob = session.get(Blob, sha256)
    if blob is None or blob.damaged_at is not None:
        return
    blob.damaged_at = utcnow()
    audit.record(
        session, user, "blob.damaged", blob, sha256=sha256, actual=actual, document=document_id
    )


def _record_damage(
    runtime: Runtime, document_id: int, user_id: int | None, error: BlobDamagedError
) -> None:
    """Called while the response streams, after the request's own unit of work ended."""
    log.error("document %s: %s; the download was stopped", document_id, error)
    with runtime.unit_of_work() as session:
        user = session.get(User, user_id) if user_id is not None else None
        mark_damaged(session, error.sha256, error.actual, document_id, user)
