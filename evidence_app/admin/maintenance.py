"""Rebuild the derived data (index) and check that database, blobs and index agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.documents.ingest import process_documents
from evidence_app.runtime import Runtime
from evidence_app.search.indexing import indexable_ids, rebuild_index
from storage import Blob, Document, DocumentVersion


def reindex(session: Session, runtime: Runtime, *, extract: bool = False) -> int:
    """Rebuild the search index from the database (and, with extract, from the blobs)."""
    if extract:
        ids = list(session.scalars(select(Document.id).where(Document.deleted.is_(False))))
        process_documents(runtime, ids)
        return len(ids)
    return rebuild_index(session, runtime.index)


def verify(session: Session, runtime: Runtime) -> dict[str, Any]:
    """Re-hash every blob and compare the database with the store and the index."""
    problems: list[dict[str, Any]] = []
    blobs = list(session.scalars(select(Blob)))
    for blob in blobs:
        checked = runtime.blobs.verify(blob.sha256)
        if checked.status == "missing":
            problems.append({"kind": "blob_missing", "sha256": blob.sha256})
        elif checked.status == "altered":
            problems.append(
                {"kind": "blob_altered", "sha256": blob.sha256, "actual": checked.actual_sha256}
            )
        elif checked.size != blob.size:
            problems.append({"kind": "blob_size", "sha256": blob.sha256})
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
    return {
        "ok": not problems,
        "blobs": len(blobs),
        "documents_indexed": len(indexed & expected),
        "problems": problems,
        "orphan_blobs": len(orphans),  # stored but never committed (e.g. a refused upload)
    }
