"""Search use case: query the backend, join the ids back to documents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from evidence_app.documents.facts import signature_summary
from evidence_app.runtime import Runtime
from indexer import SearchQuery
from storage import CatalogEntry, Document, DocumentLink, DocumentVersion, Framework


def signed_document_ids(session: Session) -> set[int]:
    """Documents whose current (newest) version carries a digital signature or seal."""
    newest = (
        select(DocumentVersion.document_id, func.max(DocumentVersion.number).label("number"))
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    return set(
        session.scalars(
            select(DocumentVersion.document_id)
            .join(
                newest,
                (newest.c.document_id == DocumentVersion.document_id)
                & (newest.c.number == DocumentVersion.number),
            )
            .where(DocumentVersion.signature_count > 0)
        )
    )


def search_documents(
    session: Session,
    runtime: Runtime,
    text: str,
    *,
    framework_id: int | None = None,
    indicator: str | None = None,
    file_type: str | None = None,
    status: str | None = None,
    doc_ids: set[int] | None = None,
    signed: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    """Run a search; returns the ``search --json`` shape (total, took_ms, hits).

    ``doc_ids`` restricts the search (access); ``signed`` to documents whose current
    version is signed (含电子签章), within that restriction."""
    if signed:
        signed_ids = signed_document_ids(session)
        doc_ids = signed_ids if doc_ids is None else doc_ids & signed_ids
        if not doc_ids:
            return {"total": 0, "took_ms": 0.0, "hits": []}
    visible = unarchived_document_ids(session)
    if visible is not None:  # documents of archived frameworks stay out of every search
        doc_ids = visible if doc_ids is None else doc_ids & visible
        if not doc_ids:
            return {"total": 0, "took_ms": 0.0, "hits": []}
    result = runtime.search_index().search(
        SearchQuery(
            text=text,
            framework_id=framework_id,
            indicator=indicator or None,
            file_type=file_type or None,
            status=status or None,
            doc_ids=doc_ids,
            limit=max(1, min(limit, 200)),
            offset=max(0, offset),
        )
    )
    ids = [h.doc_id for h in result.hits]
    documents = {
        d.id: d
        for d in session.scalars(
            select(Document)
            .where(Document.id.in_(ids), Document.deleted.is_(False))
            .options(
                selectinload(Document.links)
                .selectinload(DocumentLink.entry)
                .selectinload(CatalogEntry.indicator),
                selectinload(Document.links).selectinload(DocumentLink.indicator),
                selectinload(Document.versions),
            )
        )
    }
    framework_ids = {d.framework_id for d in documents.values() if d.framework_id is not None}
    found = session.execute(
        select(Framework.id, Framework.name).where(Framework.id.in_(framework_ids))
    )
    names = {row.id: row.name for row in found}
    hits = []
    for h in result.hits:
        document = documents.get(h.doc_id)
        if document is None:  # deleted since it was indexed
            continue
        linked = (
            link.entry.indicator if link.entry is not None else link.indicator
            for link in document.links
        )
        by_code = {indicator.code: indicator.id for indicator in linked if indicator is not None}
        indicators = sorted(by_code)
        hits.append(
            {
                "document_id": document.id,
                "framework_id": document.framework_id,
                "framework": names.get(document.framework_id or 0, ""),
                "indicator_ids": [by_code[code] for code in indicators],
                "code": document.code,
                "title": document.title,
                "indicators": indicators,
                "score": round(float(h.score), 4),
                "pages": list(h.pages),
                "snippets": [{"page": s.page, "html": s.html} for s in h.snippets],
                "file_type": document.file_type,
                "status": document.status,
                "signatures": signature_summary(document.current),
            }
        )
    out: dict[str, Any] = {
        "total": result.total,
        "took_ms": round(result.took_ms, 2),
        "hits": hits,
    }
    if getattr(result, "fallback", False):
        out["fallback"] = True
    return out


def unarchived_document_ids(session: Session) -> set[int] | None:
    """The documents outside archived frameworks while any framework is archived; None
    (no restriction) otherwise."""
    archived = select(Framework.id).where(Framework.archived_at.is_not(None))
    if not session.scalar(select(archived.exists())):
        return None
    return set(
        session.scalars(
            select(Document.id).where(
                Document.deleted.is_(False),
                or_(Document.framework_id.is_(None), Document.framework_id.not_in(archived)),
            )
        )
    )
