"""Background processing with huey: SQLite queue in the instance folder, or Redis.

Web requests store files; their commit hands the new documents to the queue (see
``evidence_app.uow``), and ``evidence worker`` extracts, OCRs and indexes them. A worker
killed mid-job loses the queue message but not the document: documents left
``pending``/``processing`` are found and enqueued again when a worker starts and every few
minutes after (processing is idempotent: the index replaces a document by id).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select

from evidence_app.documents.ingest import process_documents
from evidence_app.runtime import Runtime
from evidence_app.search.indexing import sync_index
from storage import Document, DocumentStatus, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=10)


class Jobs:
    """The runtime's job queue: tasks registered on a huey instance created on first use."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._huey: Huey | None = None
        self._lock = threading.Lock()
        self._process_task: Any = None
        self._sync_task: Any = None

    @property
    def huey(self) -> Huey:
        if self._huey is None:
            with self._lock:
                if self._huey is None:
                    self._huey = self._make_huey()
        return self._huey

    def process(self, document_ids: list[int]) -> None:
        self.huey  # noqa: B018 - registers the tasks
        self._process_task(list(document_ids))

    def process_now(self, document_ids: list[int]) -> None:
        process_documents(self.runtime, document_ids)

    def sync_index(self) -> None:
        self.huey  # noqa: B018 - registers the tasks
        self._sync_task()

    def _make_huey(self) -> Huey:
        runtime = self.runtime
        config = runtime.config
        if config.REDIS_URL:
            huey: Huey = RedisHuey(
                "evidence", url=config.REDIS_URL, immediate=config.HUEY_IMMEDIATE
            )
        else:
            config.EVIDENCE_HOME.mkdir(parents=True, exist_ok=True)
            huey = SqliteHuey(
                "evidence",
                filename=str(config.EVIDENCE_HOME / "queue.sqlite3"),
                immediate=config.HUEY_IMMEDIATE,
            )

        @huey.task(retries=3, retry_delay=10, name="process_documents")
        def process_documents_task(document_ids: list[int]) -> None:
            process_documents(runtime, document_ids, unfinished_only=True)

        @huey.task(retries=3, retry_delay=30, name="sync_index")
        def sync_index_task() -> None:
            with runtime.unit_of_work() as session:
                result = sync_index(session, runtime.index)
            log.info("search index synchronised with the database", extra=result)

        @huey.periodic_task(crontab(minute="*/5"), name="recover_stale")
        def recover_stale_task() -> None:
            recover_stale(runtime)

        self._process_task = process_documents_task
        self._sync_task = sync_index_task
        return huey


def attach_jobs(runtime: Runtime) -> Jobs:
    runtime.jobs = jobs = Jobs(runtime)
    return jobs


def recover_stale(runtime: Runtime, older_than: timedelta = STALE_AFTER) -> list[int]:
    """Enqueue documents a dead worker left behind (pending, or processing for too long)."""
    cutoff = utcnow() - older_than
    session = runtime.session()
    try:
        ids = list(
            session.scalars(
                select(Document.id).where(
                    Document.deleted.is_(False),
                    (Document.status == DocumentStatus.PENDING)
                    | (
                        (Document.status == DocumentStatus.PROCESSING)
                        & (Document.updated_at < cutoff)
                    ),
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
