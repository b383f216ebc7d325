"""One unit of work: a request, a CLI command or a job commits once, at its boundary.

Use-case functions flush and never commit. While a unit runs, the session records what
changed that derived data depends on (documents, their links, entry and indicator codes, and
the blobs it wrote); after the commit, the runtime's effects bring the search index and the
job queue up to date from the committed rows, and delete blobs no committed row references.
A rollback drops the record (and the blobs it wrote). No route or operation calls the index
or the queue by hand, so no path can change documents without the index following.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from storage import CatalogEntry, Document, DocumentLink, Indicator

log = logging.getLogger(__name__)

#: Document columns the search index holds (or that decide whether it holds the document).
INDEXED_FIELDS = ("title", "code", "framework_id", "file_type", "status", "deleted", "links")
ENTRY_FIELDS = ("code", "indicator_id")
INDICATOR_FIELDS = ("code", "parent_id")

_KEY = "evidence_changes"


@dataclass
class Changes:
    """What one unit of work changed that derived data (index, queue, blobs) follows."""

    documents: set[int] = field(default_factory=set)
    entries: set[int] = field(default_factory=set)
    indicators: set[int] = field(default_factory=set)
    #: pages just extracted, by document id, so the index need not read them back
    pages: dict[int, list[Any]] = field(default_factory=dict)
    #: blobs this unit wrote; kept only while a committed row references them
    new_blobs: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.documents or self.entries or self.indicators or self.new_blobs)


class Effects(Protocol):
    """What follows a unit of work (the runtime implements it)."""

    def after_commit(self, changes: Changes) -> None: ...

    def after_rollback(self, changes: Changes) -> None: ...


def changes_of(session: Session) -> Changes:
    """The running unit's record of changes (created on first use)."""
    changes = session.info.get(_KEY)
    if changes is None:
        changes = session.info[_KEY] = Changes()
    return changes


def record_blob(session: Session, sha256: str) -> None:
    """A blob written during this unit: deleted afterwards unless a committed row uses it."""
    changes_of(session).new_blobs.add(sha256)


def record_pages(session: Session, document_id: int, pages: list[Any]) -> None:
    """Freshly extracted pages of a document, handed to the index after the commit."""
    changes = changes_of(session)
    changes.pages[document_id] = pages
    changes.documents.add(document_id)


def _changed(obj: object, names: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _collect(session: Session, _flush_context: object) -> None:
    """After each flush: note the documents, entries and indicators the index depends on."""
    changes = changes_of(session)
    for obj in session.new:
        if isinstance(obj, Document):
            changes.documents.add(obj.id)
        elif isinstance(obj, DocumentLink):
            changes.documents.add(obj.document_id)
    for obj in session.dirty:
        if isinstance(obj, Document):
            if _changed(obj, INDEXED_FIELDS):
                changes.documents.add(obj.id)
        elif isinstance(obj, DocumentLink):
            changes.documents.add(obj.document_id)
            for old in inspect(obj).attrs["document_id"].history.deleted or ():
                changes.documents.add(old)
        elif isinstance(obj, CatalogEntry):
            if _changed(obj, ENTRY_FIELDS):
                changes.entries.add(obj.id)
        elif isinstance(obj, Indicator) and _changed(obj, INDICATOR_FIELDS):
            changes.indicators.add(obj.id)
    for obj in session.deleted:
        if isinstance(obj, Document):
            changes.documents.add(obj.id)
        elif isinstance(obj, DocumentLink):
            changes.documents.add(obj.document_id)


def _link_deleted(_mapper: object, _connection: object, target: DocumentLink) -> None:
    """Links removed as orphans (``document.links.remove``) never show in session.deleted."""
    session = Session.object_session(target)
    if session is not None:
        changes_of(session).documents.add(target.document_id)


event.listen(DocumentLink, "after_delete", _link_deleted)


def install(factory: sessionmaker[Session], effects: Effects) -> None:
    """Record changes in every session of ``factory`` and run ``effects`` after each unit."""

    # both events fire for savepoints too: only the outermost transaction ends the unit
    def after_commit(session: Session) -> None:
        if session.in_nested_transaction():
            return
        changes = session.info.pop(_KEY, None)
        if changes:
            effects.after_commit(changes)

    def after_rollback(session: Session) -> None:
        if session.in_nested_transaction():
            return
        changes = session.info.pop(_KEY, None)
        if changes:
            effects.after_rollback(changes)

    event.listen(factory, "after_flush", _collect)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)


def commit(session: Session) -> None:
    """Commit a unit of work (the boundaries call this; operations never do)."""
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back otherwise."""
    session = factory()
    try:
        yield session
        commit(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
