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
    restriction = leave_out_archived(session, framework_id, doc_ids)
    if restriction is None:
        return {"total": 0, "took_ms": 0.0, "hits": []}
    framework_id, doc_ids = restriction
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


def leave_out_archived(
    session: Session, framework_id: int | None, doc_ids: set[int] | None
) -> tuple[int | None, set[int] | None] | None:
    """The search's (framework_id, doc_ids) restriction with the documents of archived
    frameworks left out (they stay in the index); None when nothing is left to search.

    Cheap restrictions first: an archived framework's documents are left out by a
    framework filter when one framework in use holds all the others, else by subtracting
    them from an access restriction; a list of every visible document is the last resort."""
    archived = set(session.scalars(select(Framework.id).where(Framework.archived_at.is_not(None))))
    if not archived:
        return framework_id, doc_ids
    if framework_id is not None:
        return None if framework_id in archived else (framework_id, doc_ids)
    live = Document.deleted.is_(False)
    hidden = set(
        session.scalars(select(Document.id).where(live, Document.framework_id.in_(archived)))
    )
    if not hidden:
        return None, doc_ids
    if doc_ids is not None:
        left = doc_ids - hidden
        return (None, left) if left else None
    shown = live & or_(Document.framework_id.is_(None), Document.framework_id.not_in(archived))
    holders = set(session.scalars(select(Document.framework_id).where(shown).distinct()))
    if not holders:
        return None
    if len(holders) == 1 and None not in holders:
        return holders.pop(), None
    return None, set(session.scalars(select(Document.id).where(shown)))
