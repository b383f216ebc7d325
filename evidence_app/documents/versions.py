"""New versions of a document: the old bytes stay (versions are kept), the document is read
again and goes back to 待审."""

from __future__ import annotations

from typing import IO

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.documents.ingest import (
    UploadRejected,
    _ensure_blob,
    clean_filename,
    store_upload_blob,
)
from evidence_app.review import operations as review
from evidence_app.runtime import Runtime
from indexer import file_type_from_name
from storage import Document, DocumentStatus, DocumentVersion, User


def add_document_version(
    session: Session,
    runtime: Runtime,
    document: Document,
    stream: IO[bytes],
    name: str,
    user: User | None,
) -> DocumentVersion:
    """Store ``stream`` as the document's next version and reset its status and review;
    the commit hands it to processing. Raises UploadRejected (message in Chinese). Flushes.
    """
    if document.deleted:
        raise UploadRejected("文件已删除，不能上传新版本")
    display = clean_filename(name)
    sha, size = store_upload_blob(session, runtime, stream)
    _lock_versions(session, document)
    current = document.current
    if current is not None and current.blob_sha256 == sha:
        raise UploadRejected("新版本与当前版本内容相同")
    _ensure_blob(session, sha, size)
    version = DocumentVersion(
        number=(current.number if current else 0) + 1,
        blob_sha256=sha,
        original_name=display,
        size=size,
        uploaded_by_id=user.id if user else None,
    )
    document.versions.append(version)
    # a guess from the name; processing reads the content and sets the real type
    document.file_type = file_type_from_name(display)
    document.status = DocumentStatus.PENDING
    document.status_reason = ""
    session.flush()
    audit.record(
        session,
        user,
        "document.new_version",
        document,
        version=version.number,
        name=display,
        sha256=sha,
        size=size,
        previous_sha256=current.blob_sha256 if current else None,
    )
    review.on_new_version(session, document, user)
    return version


def _lock_versions(session: Session, document: Document) -> None:
    """Hold the document's row until commit and read its versions again, so that two
    uploads at the same time number their versions one after the other."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Document.id).where(Document.id == document.id).with_for_update())
    else:  # SQLite: a write takes the database lock, later readers see committed versions
        session.execute(update(Document).where(Document.id == document.id).values(id=Document.id))
    session.expire(document, ["versions"])
