"""The one way a document version is downloaded, shared by the pages and the API.

Every byte is checked against the version's SHA-256 while it streams out
(``storage.VerifyingReader``): a damaged file stops before its last bytes, is marked damaged
(``Blob.damaged_at``, an audit record, a finding), and is refused from then on with a clear
409 until ``evidence verify`` finds it whole again (restored from a backup).

Where the downloader's copy must carry a stamp (``watermark.stamp_for``: outside experts,
everyone while ``watermark_all`` is on), the original is first copied to a temporary file
through the same check, the stamp is put on that copy (PDF: every page; pictures: drawn on),
and only then is anything sent: a stamped copy is new content, so it has no hash of its own
to check on the way out. Formats that cannot carry a stamp (DOCX, XLSX, ZIP…) are refused,
with the viewer suggested; only users who may manage the document (its staff, admins) still
get their original then. A user invited without downloads (``User.can_download`` false) gets
a 403 on every download route."""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import IO, BinaryIO, NoReturn, cast

from flask import abort, jsonify, make_response, redirect, render_template, request, send_file
from sqlalchemy.orm import Session, object_session
from werkzeug.exceptions import Conflict, RequestedRangeNotSatisfiable
from werkzeug.wrappers import Response

from evidence_app.admin import audit
from evidence_app.auth.permissions import can_manage_document
from evidence_app.auth.security import acting_user, wants_json
from evidence_app.documents import watermark
from evidence_app.documents.operations import mimetype_for
from evidence_app.runtime import Runtime
from evidence_app.web import keep_changes
from storage import (
    Blob,
    BlobDamagedError,
    Document,
    DocumentVersion,
    User,
    VerifyingReader,
    utcnow,
)

log = logging.getLogger(__name__)


NO_DOWNLOAD = "您的账号只能在线查看材料，不能下载文件。请使用“在线查看”阅读。"
NOT_STAMPABLE = (
    "为保护评审材料，下载的文件须加盖查看人水印，而 {kind} 文件无法可靠地加盖水印，"
    "因此不能下载。请使用“在线查看”阅读其内容。"
)
COPY_CHUNK = 1 << 20


class DamagedFileError(Conflict):
    """The stored bytes do not match the hash recorded at upload."""

    description = (
        "文件内容已损坏：存储中的文件与上传时记录的校验值（SHA-256）不符，已停止下载并记录。"
        "请联系管理员从备份恢复（evidence restore）或重新上传此文件"
    )


def may_download(user: User | None) -> bool:
    """Whether downloads are open to ``user`` at all (experts invited with --no-download
    are not): the pages hide the links, the routes answer 403."""
    return user is None or bool(user.can_download)


def download_response(runtime: Runtime, version: DocumentVersion) -> Response:
    """The version's file for the acting user, recorded in the audit trail: stamped with
    their name where ``watermark.stamp_for`` says so, else a redirect to the store's own URL
    when it gives one (presigned S3), else the bytes streamed from the store and checked on
    the way."""
    session = object_session(version)
    assert session is not None
    user = acting_user()
    document = version.document
    if not may_download(user):
        _refuse(session, user, document, NO_DOWNLOAD, "no_download")
    sha = version.blob_sha256
    blob = session.get(Blob, sha)
    if blob is not None and blob.damaged_at is not None:
        raise DamagedFileError()
    name = version.original_name
    mimetype = mimetype_for(name)
    stamp = watermark.stamp_for(session, user)
    if stamp is not None:
        file_type = Path(name).suffix.lstrip(".").lower()
        original_allowed = (
            user is not None
            and user.role != "expert"
            and can_manage_document(session, user, document)
        )
        if file_type in watermark.STAMPABLE:
            stamped = _stamped_file(runtime, version, file_type, stamp, user, original_allowed)
            if stamped is not None:
                audit.record(
                    session,
                    user,
                    "document.download",
                    document,
                    version=version.number,
                    watermark=stamp.text,
                )
                return _send_stamped(stamped, name, mimetype)
        elif not original_allowed:
            kind = file_type.upper() or "此类"
            _refuse(session, user, document, NOT_STAMPABLE.format(kind=kind), "not_stampable")
    audit.record(session, user, "document.download", document, version=version.number)
    url = runtime.blobs.download_url(sha, name, mimetype)
    if url is not None:  # the bucket serves the bytes; `evidence verify` checks them there
        return redirect(url, code=302)
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
    return _conditional(response, size)


def _conditional(response: Response, size: int) -> Response:
    """Ranges, 304 and 412 for a streamed file; a refused range (416) or an answer without
    a body (304, 412) closes the file at once instead of leaving it open."""
    try:
        response.make_conditional(request, accept_ranges=True, complete_length=size)
    except RequestedRangeNotSatisfiable:
        response.close()
        raise
    if response.status_code in (304, 412):
        response.close()
        response.set_data(b"")
    return response


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


# -- stamped copies --------------------------------------------------------------------------


class UnstampableFileError(Conflict):
    """The file is of a stampable type but this one cannot be stamped (broken, encrypted)."""


def _tmp_dir(runtime: Runtime) -> Path:
    """Stamped copies are written next to the data, not to a small /tmp."""
    path = Path(runtime.config.EVIDENCE_HOME) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stamped_file(
    runtime: Runtime,
    version: DocumentVersion,
    file_type: str,
    stamp: watermark.Stamp,
    user: User | None,
    original_allowed: bool,
) -> BinaryIO | None:
    """A temporary file (already unlinked: it vanishes when closed) holding the stamped
    copy; None when it cannot be stamped and the user may have the original instead."""
    session = object_session(version)
    assert session is not None
    sha = version.blob_sha256
    tmp_dir = _tmp_dir(runtime)
    original: BinaryIO = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - closed below
    result: BinaryIO | None = None
    try:
        try:
            with VerifyingReader(runtime.blobs.open(sha), sha) as source:
                shutil.copyfileobj(source, original, COPY_CHUNK)
        except BlobDamagedError as e:
            log.error("document %s: %s; the download was refused", version.document_id, e)
            mark_damaged(session, e.sha256, e.actual, version.document_id, user)
            keep_changes()
            raise DamagedFileError() from e
        original.flush()
        original.seek(0)
        try:
            if file_type == "pdf":
                result = watermark.stamp_pdf_file(original, stamp, tmp_dir)
            else:
                result = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - sent, then closed
                watermark.stamp_image_file(original, result, file_type, stamp)
        except watermark.WatermarkError as e:
            if result is not None and result is not original:
                result.close()
            result = None
            if original_allowed:
                log.warning("document %s: %s; the original is sent", version.document_id, e)
                return None
            raise UnstampableFileError(description=str(e)) from e
    finally:
        if result is not original:
            original.close()
    return result


def _send_stamped(file: BinaryIO, name: str, mimetype: str) -> Response:
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    response = send_file(
        cast(IO[bytes], file),
        as_attachment=True,
        download_name=name,
        mimetype=mimetype,
        conditional=False,  # made for this user now: no ranges, no validators
        etag=False,
    )
    response.content_length = size
    return response


def _refuse(
    session: Session, user: User | None, document: Document, message: str, reason: str
) -> NoReturn:
    """Answer 403 with the reason in Chinese (JSON in the API, a page otherwise), keeping
    only the refusal in the audit trail."""
    session.rollback()
    audit.record(
        session,
        user,
        "access.denied",
        document,
        permission="download",
        reason=reason,
        path=request.path,
        method=request.method,
    )
    keep_changes()
    if wants_json():
        abort(make_response(jsonify({"error": message.rstrip("。")}), 403))
    page = render_template("documents/download_refused.html", doc=document, message=message)
    abort(make_response(page, 403))
