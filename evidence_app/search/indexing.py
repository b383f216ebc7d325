"""The search index follows the database: derived from committed rows, never edited by hand.

``IndexFollower`` runs after every unit of work (see ``evidence_app.uow``): documents whose
indexed fields or links changed are re-added, deleted ones removed, pending ones handed to
the job queue. ``IndexHealth`` compares the index with the database when a process opens it
and after an index failure: a few missing documents are repaired quietly; a missing, corrupt
or mostly empty index is rebuilt in the background while searches answer 503.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from evidence_app.uow import Changes, commit
from indexer import IndexDoc, IndexerError, Page, SearchBackend
from storage import (
    Blob,
    BlobStoreBase,
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentStatus,
    Indicator,
    utcnow,
)

log = logging.getLogger(__name__)

UNFINISHED = (DocumentStatus.PENDING, DocumentStatus.PROCESSING)
YEAR_RE = re.compile(r"(20\d{2})\s*年")
BATCH = 200


class IndexUnavailableError(IndexerError):
    """The index is being rebuilt from the database; searches should be retried shortly."""

    retry_after = 30


def _year_of(title: str) -> int | None:
    m = YEAR_RE.search(title)
    return int(m.group(1)) if m else None


def _ancestor_codes(code: str) -> list[str]:
    parts = code.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def index_doc_for(document: Document, pages: list[Page] | None = None) -> IndexDoc:
    """The IndexDoc the search backend gets for a document (its stored pages by default)."""
    entry_codes: list[str] = []
    indicator_codes: set[str] = set()
    for link in document.links:
        if link.entry is not None:
            entry_codes.append(link.entry.code)
            indicator_codes.update(_ancestor_codes(link.entry.indicator.code))
        if link.indicator is not None:
            indicator_codes.update(_ancestor_codes(link.indicator.code))
    if pages is None:
        pages = [Page(p.number, p.text, p.source) for p in document.pages]
    return IndexDoc(
        doc_id=document.id,
        title=document.title,
        pages=pages,
        code=document.code,
        entry_codes=sorted(set(entry_codes)),
        indicator_codes=sorted(indicator_codes),
        framework_id=document.framework_id,
        file_type=document.file_type,
        year=_year_of(document.title),
        status=document.status,
    )


def _with_links(stmt: Any) -> Any:
    return stmt.options(
        selectinload(Document.links)
        .selectinload(DocumentLink.entry)
        .selectinload(CatalogEntry.indicator),
        selectinload(Document.links).selectinload(DocumentLink.indicator),
    )


def indexable_ids(session: Session) -> set[int]:
    """Ids of the documents the index must hold: not deleted, processing finished."""
    return set(
        session.scalars(
            select(Document.id).where(
                Document.deleted.is_(False), Document.status.not_in(UNFINISHED)
            )
        )
    )


def indexable_documents(session: Session, ids: Iterable[int] | None = None) -> list[Document]:
    stmt = select(Document).where(Document.deleted.is_(False), Document.status.not_in(UNFINISHED))
    if ids is not None:
        stmt = stmt.where(Document.id.in_(sorted(ids)))
    stmt = _with_links(stmt.order_by(Document.id)).options(selectinload(Document.pages))
    return list(session.scalars(stmt))


def documents_under(session: Session, entry_ids: set[int], indicator_ids: set[int]) -> set[int]:
    """Documents linked to these entries, or to these indicators or anything below them."""
    found: set[int] = set()
    if entry_ids:
        found |= set(
            session.scalars(
                select(DocumentLink.document_id).where(DocumentLink.entry_id.in_(entry_ids))
            )
        )
    frontier, seen = set(indicator_ids), set(indicator_ids)
    while frontier:
        frontier = (
            set(session.scalars(select(Indicator.id).where(Indicator.parent_id.in_(frontier))))
            - seen
        )
        seen |= frontier
    if seen:
        via_entry = (
            select(DocumentLink.document_id)
            .join(CatalogEntry, CatalogEntry.id == DocumentLink.entry_id)
            .where(CatalogEntry.indicator_id.in_(seen))
        )
        direct = select(DocumentLink.document_id).where(DocumentLink.indicator_id.in_(seen))
        found |= set(session.scalars(via_entry)) | set(session.scalars(direct))
    return found


def sync_index(session: Session, index: SearchBackend, *, batch: int = BATCH) -> dict[str, int]:
    """Make the index hold exactly the indexable documents: add the missing, drop the rest."""
    expected = indexable_ids(session)
    present = index.doc_ids()
    extra = sorted(present - expected)
    missing = sorted(expected - present)
    if extra:
        index.delete(extra)
    for start in range(0, len(missing), batch):
        chunk = indexable_documents(session, missing[start : start + batch])
        index.add([index_doc_for(d) for d in chunk])
        session.expunge_all()  # pages of a big library must not pile up in memory
    return {"added": len(missing), "removed": len(extra), "total": len(expected)}


def rebuild_index(session: Session, index: SearchBackend, *, batch: int = BATCH) -> int:
    """Clear the index and add every indexable document again."""
    index.clear()
    return sync_index(session, index, batch=batch)["added"]


@dataclass
class IndexHealth:
    """Whether the index may answer searches, and when to look again while it is rebuilt."""

    rebuilding: bool = False
    checked_at: float = 0.0
    recheck_seconds: float = 2.0

    def due(self) -> bool:
        return time.monotonic() - self.checked_at >= self.recheck_seconds


def is_mostly_missing(missing: int, expected: int, present: int) -> bool:
    """A gap this big is a lost index, not documents whose indexing is a moment behind."""
    return missing > 0 and (present == 0 or missing > max(20, expected // 20))


class IndexFollower:
    """The effects of a unit of work on derived data: index, job queue, unreferenced blobs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: Callable[[], SearchBackend],
        blobs: BlobStoreBase,
        dispatch: Callable[[list[int]], None],
        on_index_error: Callable[[Exception], None],
    ) -> None:
        self.sessions = sessions
        self.index = index
        self.blobs = blobs
        self.dispatch = dispatch
        self.on_index_error = on_index_error
        self._local = threading.local()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Commits in this block (this thread) leave the index and queue alone: for bulk
        loads that synchronise the index themselves afterwards (``sync_index``)."""
        self._local.muted = True
        try:
            yield
        finally:
            self._local.muted = False

    def after_commit(self, changes: Changes) -> None:
        if getattr(self._local, "muted", False):
            return
        pending: list[int] = []
        session = self.sessions()
        try:
            ids = set(changes.documents)
            ids |= documents_under(session, changes.entries, changes.indicators)
            add: list[IndexDoc] = []
            remove: list[int] = []
            if ids:
                rows = {
                    d.id: d
                    for d in session.scalars(
                        _with_links(select(Document).where(Document.id.in_(sorted(ids))))
                    )
                }
                for doc_id in sorted(ids):
                    document = rows.get(doc_id)
                    if document is None or document.deleted:
                        remove.append(doc_id)
                    elif document.status == DocumentStatus.PENDING:
                        pending.append(doc_id)
                    elif document.status != DocumentStatus.PROCESSING:
                        pages = changes.pages.get(doc_id)
                        if pages is not None:
                            pages = [p for p in pages if p.text.strip()]
                        add.append(index_doc_for(document, pages))
            self._apply(session, add, remove, processed=set(changes.pages))
            self._drop_unreferenced(session, changes.new_blobs)
        finally:
            session.close()
        if pending:
            self.dispatch(pending)

    def after_rollback(self, changes: Changes) -> None:
        if changes.new_blobs:
            session = self.sessions()
            try:
                self._drop_unreferenced(session, changes.new_blobs)
            finally:
                session.close()

    def _apply(
        self, session: Session, add: list[IndexDoc], remove: list[int], processed: set[int]
    ) -> None:
        if not add and not remove:
            return
        try:
            index = self.index()
            if remove:
                index.delete(remove)
            if add:
                index.add(add)
        except Exception as e:
            log.exception("index update failed")
            self.on_index_error(e)
            failed = [d.doc_id for d in add if d.doc_id in processed]
            if failed:
                self._mark_failed(session, failed, e)

    def _mark_failed(self, session: Session, ids: list[int], error: Exception) -> None:
        """Documents just processed whose index write failed: failed, with a reason to retry.

        This unit's own effects are muted: the index is failing, so they would fail again."""
        for document in session.scalars(select(Document).where(Document.id.in_(ids))):
            document.status = DocumentStatus.FAILED
            document.status_reason = f"索引写入失败，可重试（{type(error).__name__}: {error}）"
            document.updated_at = utcnow()
        with self.paused():
            commit(session)

    def _drop_unreferenced(self, session: Session, shas: set[str]) -> None:
        """Delete blobs this unit wrote that no committed row references.

        A concurrent unit storing the same bytes holds its Blob row's lock until it commits;
        taking that lock first means its bytes are never deleted under it."""
        if not shas:
            return
        for sha in sorted(shas):
            lock_blob(session, sha)
            if session.get(Blob, sha) is None:
                self.blobs.delete(sha)
            session.rollback()


def lock_blob(session: Session, sha: str) -> None:
    """Wait for any other transaction that is inserting this blob's row (then hold the lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": "blob:" + sha})
    else:  # SQLite: a write statement waits for the writer that holds the database lock
        session.execute(update(Blob).where(Blob.sha256 == sha).values(size=Blob.size))
