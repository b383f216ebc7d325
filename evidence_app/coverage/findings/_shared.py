"""What the finders share: the framework's documents and the context of one audit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Row, and_, func, select
from sqlalchemy.orm import Session

from evidence_app.coverage.operations import (
    Coverage,
)
from evidence_app.frameworks import code_key
from storage import (
    Document,
    DocumentVersion,
)


@dataclass
class FindingContext:
    """One audit of one framework: what every finder reads."""

    session: Session
    framework_id: int
    coverage: Coverage
    today: date
    threshold: float
    docs: dict[int, _Doc]


@dataclass
class _Doc:
    id: int
    title: str
    code: str
    status: str
    status_reason: str
    sha256: str = ""


def _chunks(ids: list[int], size: int = 5000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _framework_documents(
    session: Session, framework_id: int, coverage: Coverage
) -> dict[int, _Doc]:
    """The framework's documents (its own and any linked to it), not deleted, with the
    current version's SHA-256."""
    docs: dict[int, _Doc] = {}
    cols = (
        Document.id,
        Document.title,
        Document.code,
        Document.status,
        Document.status_reason,
    )
    for r in session.execute(
        select(*cols).where(Document.framework_id == framework_id, Document.deleted.is_(False))
    ):
        docs[r.id] = _Doc(r.id, r.title, r.code, r.status, r.status_reason)
    others = sorted(set(coverage.document_links) - set(docs))
    for chunk in _chunks(others):
        for r in session.execute(select(*cols).where(Document.id.in_(chunk))):
            docs[r.id] = _Doc(r.id, r.title, r.code, r.status, r.status_reason)
    newest = (
        select(DocumentVersion.document_id, func.max(DocumentVersion.number).label("number"))
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    current = select(DocumentVersion.document_id, DocumentVersion.blob_sha256).join(
        newest,
        and_(
            newest.c.document_id == DocumentVersion.document_id,
            newest.c.number == DocumentVersion.number,
        ),
    )
    rows: Iterable[Row[int, str]]
    if not others:
        rows = session.execute(
            current.join(Document, Document.id == DocumentVersion.document_id).where(
                Document.framework_id == framework_id, Document.deleted.is_(False)
            )
        )
    else:
        rows = (
            r
            for chunk in _chunks(sorted(docs))
            for r in session.execute(current.where(DocumentVersion.document_id.in_(chunk)))
        )
    for doc_id, sha in rows:
        if doc_id in docs:
            docs[doc_id].sha256 = sha
    return docs


def _link_codes(coverage: Coverage, doc_ids: Iterable[int]) -> tuple[list[str], set[int]]:
    """The entry (or, for direct links, indicator) codes of documents, and their indicators."""
    codes: set[str] = set()
    indicators: set[int] = set()
    for doc_id in doc_ids:
        for entry_id, indicator_id in coverage.document_links.get(doc_id, ()):
            indicators.add(indicator_id)
            if entry_id is not None:
                codes.add(coverage.entry(entry_id).code)
            else:
                codes.add(coverage.indicator(indicator_id).code)
    return sorted(codes, key=code_key), indicators
