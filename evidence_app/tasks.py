"""Background processing with huey: SQLite queue in the instance folder, or Redis.

Web requests store files and enqueue their ids; ``evidence worker`` extracts, OCRs and
indexes. A worker killed mid-job loses the queue message but not the document: documents
left ``pending``/``processing`` are found and enqueued again when a worker starts and every
few minutes after (processing is idempotent: the index replaces a document by id).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select

from storage import Document, utcnow
from storage._models import STATUS_PENDING, STATUS_PROCESSING

if TYPE_CHECKING:
    from evidence_app.runtime import Runtime

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)


def make_huey(runtime: Runtime) -> Huey:
    config = runtime.config
    if config.REDIS_URL:
        huey: Huey = RedisHuey("evidence", url=config.REDIS_URL, immediate=config.HUEY_IMMEDIATE)
    else:
        config.EVIDENCE_HOME.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(
            "evidence",
            filename=str(config.EVIDENCE_HOME / "queue.sqlite3"),
            immediate=config.HUEY_IMMEDIATE,
        )

    @huey.task(retries=3, retry_delay=10, name="process_documents")
    def process_documents_task(document_ids: list[int]) -> None:
        from evidence_app.services.ingest import process_documents

        session = runtime.session()
        try:
            process_documents(session, runtime, document_ids, unfinished_only=True)
        finally:
            session.close()

    @huey.task(retries=3, retry_delay=30, name="reindex")
    def reindex_task() -> None:
        from evidence_app.services.maintenance import reindex

        session = runtime.session()
        try:
            reindex(session, runtime)
        finally:
            session.close()

    @huey.periodic_task(crontab(minute="*/5"), name="recover_stale")
    def recover_stale_task() -> None:
        recover_stale(runtime)

    runtime.process_task = process_documents_task
    runtime.reindex_task = reindex_task
    return huey


def recover_stale(runtime: Runtime, older_than: timedelta = STALE_AFTER) -> list[int]:
    """Enqueue documents a dead worker left behind (pending, or processing for too long)."""
    cutoff = utcnow() - older_than
    session = runtime.session()
    try:
        ids = list(
            session.scalars(
                select(Document.id).where(
                    Document.deleted.is_(False),
                    (Document.status == STATUS_PENDING)
                    | ((Document.status == STATUS_PROCESSING) & (Document.updated_at < cutoff)),
                )
            )
        )
    finally:
        session.close()
    if ids:
        log.info("re-enqueueing %d documents left unprocessed", len(ids))
        for start in range(0, len(ids), 20):
            runtime.enqueue(ids[start : start + 20])
    return ids
