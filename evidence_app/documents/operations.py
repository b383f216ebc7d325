"""Use cases on one document: links, versions, retry, delete, history."""

from __future__ import annotations

import mimetypes
import os
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.auth.permissions import scoped_indicator_ids
from evidence_app.documents.ingest import document_summary, resolve_code
from evidence_app.documents.versions import add_document_version
from evidence_app.runtime import Runtime
from storage import AuditLog, Document, DocumentLink, DocumentStatus, DocumentVersion, User


class DocumentError(ValueError):
    """A change to a document that cannot be made; the message is for the user."""


def version_or_current(document: Document, number: int | None) -> DocumentVersion | None:
    if number is None:
        return document.current
    return next((v for v in document.versions if v.number == number), None)


#: Types the standard library does not know (GB/T 33190 registers application/ofd) or gets
#: wrong for us (.wps is Microsoft Works to it; WPS Office files are Word/Excel/PowerPoint 97).
_MIMETYPES = {
    ".ofd": "application/ofd",
    ".wps": "application/msword",
    ".et": "application/vnd.ms-excel",
    ".dps": "application/vnd.ms-powerpoint",
}


def mimetype_for(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return _MIMETYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def history(session: Session, document: Document, limit: int = 50) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog)
            .where(AuditLog.object_type == "document", AuditLog.object_id == document.id)
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
    )


def link_by_code(
    session: Session, document: Document, code: str, user: User | None
) -> DocumentLink:
    """Link the document to the entry (or indicator) with this code in its framework."""
    code = code.strip()
    if not code:
        raise DocumentError("请输入佐证条目或指标编号，例如 2.3.4-1")
    entry, indicator = resolve_code(session, document.framework_id, code)
    if entry is None and indicator is None:
        raise DocumentError(f"本指标体系中没有编号为 {code} 的佐证条目或指标")
    target = entry or indicator
    assert target is not None
    # the one scope: limited staff link only inside their indicators, as they upload
    scope = scoped_indicator_ids(session, user) if user is not None else None
    if scope is not None and (entry.indicator_id if entry else target.id) not in scope:
        raise DocumentError(f"编号 {code} 属于您负责范围以外的指标，不能关联")
    for link in document.links:
        if (entry is not None and link.entry_id == entry.id) or (
            entry is None and indicator is not None and link.indicator_id == indicator.id
        ):
            raise DocumentError(f"已经关联到 {code}")
    link = DocumentLink(
        entry_id=entry.id if entry else None,
        indicator_id=indicator.id if entry is None and indicator is not None else None,
        code=target.code,
        created_by_id=user.id if user else None,
    )
    document.links.append(link)
    session.flush()
    audit.record(session, user, "document.link", document, code=link.code)
    return link


def unlink(session: Session, document: Document, link: DocumentLink, user: User | None) -> None:
    code = link.code
    document.links.remove(link)
    session.flush()
    audit.record(session, user, "document.unlink", document, code=code)


def retry(session: Session, document: Document, user: User | None) -> None:
    document.status = DocumentStatus.PENDING
    document.status_reason = ""
    audit.record(session, user, "document.retry", document)


def delete(session: Session, document: Document, user: User | None) -> None:
    """Soft delete: hidden everywhere, bytes and rows kept for the audit trail."""
    document.deleted = True
    audit.record(session, user, "document.delete", document, title=document.title)


def add_version(
    session: Session,
    runtime: Runtime,
    document: Document,
    stream: IO[bytes],
    name: str,
    user: User | None,
) -> DocumentVersion:
    """Store a new version; the document goes back to processing and to 待审."""
    try:
        return add_document_version(session, runtime, document, stream, name, user)
    except ValueError as e:
        raise DocumentError(str(e)) from e


def summary(document: Document) -> dict[str, Any]:
    return document_summary(document)
