"""Rebuild the derived data (index) and check that database, blobs and index agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.documents.downloads import mark_damaged
from evidence_app.documents.ingest import process_documents
from evidence_app.runtime import Runtime
from evidence_app.search.indexing import indexable_ids, lock_blob, rebuild_index
from storage import Blob, Document, DocumentVersion


def reindex(session: Session, runtime: Runtime, *, extract: bool = False) -> int:
    """Rebuild the search index from the database (and, with extract, from the blobs)."""
    if extract:
        ids = list(session.scalars(select(Document.id).where(Document.deleted.is_(False))))
        process_documents(runtime, ids)
        return len(ids)
    return rebuild_index(session, runtime.index)


def verify(session: Session, runtime: Runtime, *, clean: bool = False) -> dict[str, Any]:
    """Re-hash every blob and compare the database with the store and the index.

    A blob that does not match its hash is marked damaged (downloads refuse it, the audit
    lists it); one that matches again (restored) is cleared. Blobs no row names, empty
    blobs and temporary files left by a killed process are reported; ``clean`` removes the
    orphans and the temporary files."""
    problems: list[dict[str, Any]] = []
    blobs = list(session.scalars(select(Blob)))
    for blob in blobs:
        problems.extend(_check_blob(session, runtime, blob))
    known = {b.sha256 for b in blobs}
    for version in session.scalars(select(DocumentVersion)):
        if version.blob_sha256 not in known:
            problems.append(
                {
                    "kind": "version_without_blob",
                    "document": version.document_id,
                    "sha256": version.blob_sha256,
                }
            )
    expected = indexable_ids(session)
    indexed = runtime.index.doc_ids()
    for doc_id in sorted(expected - indexed):
        problems.append({"kind": "not_indexed", "document": doc_id})
    for doc_id in sorted(indexed - expected):
        problems.append({"kind": "indexed_but_not_in_database", "document": doc_id})
    orphans = sorted(set(runtime.blobs.iter()) - known)
    temporaries = runtime.blobs.stale_temporaries()
    cleaned = _clean(session, runtime, orphans, temporaries) if clean else 0
    if not clean:
        problems.extend({"kind": "orphan_blob", "sha256": sha} for sha in orphans)
        problems.extend({"kind": "orphan_temp_file", "path": str(p)} for p in temporaries)
    return {
        "ok": not problems,
        "blobs": len(blobs),
        "documents_indexed": len(indexed & expected),
        "problems": problems,
        "orphan_blobs": len(orphans),  # stored but never committed (e.g. a killed upload)
        "cleaned": cleaned,
    }


def _check_blob(session: Session, runtime: Runtime, blob: Blob) -> list[dict[str, Any]]:
    checked = runtime.blobs.verify(blob.sha256)
    if checked.status == "missing":
        return [{"kind": "blob_missing", "sha256": blob.sha256}]
    if checked.status == "altered":
        mark_damaged(session, blob.sha256, checked.actual_sha256 or "", None, None)
        return [{"kind": "blob_altered", "sha256": blob.sha256, "actual": checked.actual_sha256}]
    if blob.damaged_at is not None:  # whole again: restored from a backup
        blob.damaged_at = None
        audit.record(session, None, "blob.restored", blob, sha256=blob.sha256)
    if checked.size == 0:  # uploads refuse empty files: this one came from elsewhere
        return [{"kind": "empty_blob", "sha256": blob.sha256}]
    if checked.size != blob.size:
        return [{"kind": "blob_size", "sha256": blob.sha256}]
    return []


def _clean(session: Session, runtime: Runtime, orphans: list[str], temporaries: list[Path]) -> int:
    """Remove orphan blobs (each re-checked under its lock: an upload may have just taken
    it) and stale temporary files; how many were removed."""
    removed = 0
    for sha in orphans:
        lock_blob(session, sha)
        if session.get(Blob, sha) is None:
            runtime.blobs.delete(sha)
            removed += 1
    for path in temporaries:
        path.unlink(missing_ok=True)
        removed += 1
    return removed
