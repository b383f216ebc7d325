"""What the app, the CLI and the worker share: database engine, sessions, blob store, index.

Created once per process from a Config; ``storage`` and ``indexer`` get paths and objects
from here, never from ``current_app.config``. Every session of ``sessions`` is a unit of
work whose commit the index and the job queue follow (``evidence_app.uow``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from config import Config
from evidence_app import uow
from evidence_app.search.indexing import (
    IndexFollower,
    IndexHealth,
    IndexUnavailableError,
    indexable_ids,
    is_mostly_missing,
)
from indexer import IndexLayoutError, SearchBackend, open_index
from storage import (
    BlobStoreBase,
    create_db_engine,
    current_revision,
    head_revision,
    make_session_factory,
    open_blob_store,
)

log = logging.getLogger(__name__)


def get_runtime(app: Flask | None = None) -> Runtime:
    """The runtime of ``app`` (the current app by default)."""
    runtime: Runtime = (app or current_app).extensions["evidence"]
    return runtime


class NotInitializedError(RuntimeError):
    """The database has no schema (or an old one): run ``evidence init``."""


class Jobs(Protocol):
    """The job queue as the runtime uses it (``evidence_app.tasks.Jobs``)."""

    @property
    def huey(self) -> Any: ...

    def process(self, document_ids: list[int]) -> None: ...

    def process_now(self, document_ids: list[int]) -> None: ...

    def sync_index(self) -> None: ...


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        if config.DATABASE_URL.startswith("sqlite:///"):
            Path(config.DATABASE_URL[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_db_engine(config.DATABASE_URL)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.blobs: BlobStoreBase = open_blob_store(
            config.BLOB_STORE,
            endpoint_url=config.S3_ENDPOINT_URL,
            region=config.AWS_DEFAULT_REGION,
            access_key=config.AWS_ACCESS_KEY_ID,
            secret_key=config.AWS_SECRET_ACCESS_KEY,
            presign_downloads=config.S3_PRESIGNED_DOWNLOADS,
            tmp_dir=config.EVIDENCE_HOME / "tmp",  # created on first use
        )
        self.jobs: Jobs | None = None  # attached by the app factory (evidence_app.tasks)
        #: process new documents in this process right after the commit (CLI ingest)
        self.process_inline = False
        self.health = IndexHealth()
        self.load_dictionary: Callable[[Session], object] | None = None
        self._index: SearchBackend | None = None
        self._checked = False
        self._lock = threading.Lock()
        self.follower = IndexFollower(
            self.sessions, lambda: self.index, self.blobs, self.dispatch, self._index_failed
        )
        uow.install(self.sessions, self.follower)

    # -- units of work -----------------------------------------------------------------------

    def session(self) -> Session:
        return self.sessions()

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session committed when the block succeeds (the CLI's and the jobs' boundary)."""
        with uow.unit_of_work(self.sessions) as session:
            yield session

    # -- jobs --------------------------------------------------------------------------------

    def _jobs(self) -> Jobs:
        if self.jobs is None:
            raise RuntimeError("no job queue attached (create the runtime with create_app)")
        return self.jobs

    @property
    def huey(self) -> Any:
        """The job queue (huey)."""
        return self._jobs().huey

    def enqueue(self, document_ids: list[int]) -> None:
        """Queue documents for extraction and indexing by a worker."""
        if document_ids:
            self._jobs().process(list(document_ids))

    def dispatch(self, document_ids: list[int]) -> None:
        """New or changed documents after a commit: processed here, or queued for a worker."""
        if self.process_inline:
            self._jobs().process_now(list(document_ids))
        else:
            self.enqueue(document_ids)

    # -- the index ---------------------------------------------------------------------------

    @property
    def index(self) -> SearchBackend:
        """The search backend, opened on first use."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._load_dictionary()
                    self._index = self._open_index()
        return self._index

    def search_index(self) -> SearchBackend:
        """The index for a search, compared with the database before the process's first
        search; IndexUnavailableError while it is being rebuilt."""
        if not self._checked:
            self._checked = True
            self._check_index()
        if not self._index_present():
            log.warning("search index folder is gone: recreating and rebuilding it")
            with self._lock:
                self._reopen(recreate=True)
            self.health.rebuilding = False
            self._check_index()
        elif self.health.rebuilding and self.health.due():
            self._check_index()
        if self.health.rebuilding:
            raise IndexUnavailableError("搜索索引正在重建，请稍后再试")
        return self.index

    def _open_index(self, *, recreate: bool = False) -> SearchBackend:
        """Open the index; a missing, corrupt or outdated one is recreated empty (and then
        rebuilt from the database by ``_check_index``)."""
        kind = self.config.SEARCH_BACKEND
        if not recreate:
            try:
                return open_index(kind, **self.index_options())
            except IndexLayoutError as e:
                log.warning("search index layout changed (%s): rebuilding it", e)
            except Exception:
                log.exception("search index could not be opened: rebuilding it")
        return open_index(kind, recreate=True, **self.index_options())

    def _reopen(self, *, recreate: bool) -> None:
        if self._index is not None:
            try:
                self._index.close()
            except Exception:  # the files may be gone: nothing to close cleanly
                log.warning("closing the old index failed", exc_info=True)
        self._index = self._open_index(recreate=recreate)

    def _index_present(self) -> bool:
        """File-based indexes live in INDEX_DIR: someone may have deleted it under us."""
        if self.config.SEARCH_BACKEND == "postgres":
            return True
        folder = Path(self.config.INDEX_DIR)
        return folder.is_dir() and any(folder.iterdir())

    def check_index(self) -> None:
        """Compare the index with the database (a starting worker does, and every process
        before its first search): repair small gaps, rebuild a lost or corrupt index."""
        self._checked = True
        self._check_index()

    def _check_index(self) -> None:
        if self._index is None:
            self.index  # noqa: B018 - opens it
        assert self._index is not None
        self.health.checked_at = time.monotonic()
        session = self.sessions()
        try:
            expected = indexable_ids(session)
        except SQLAlchemyError:  # no schema yet (before `evidence init`)
            return
        finally:
            session.close()
        try:
            present = self._index.doc_ids()
        except Exception:
            log.exception("search index unreadable: recreating it")
            self._reopen(recreate=True)
            present = set()
        missing = expected - present
        lost = is_mostly_missing(len(missing), len(expected), len(present))
        if lost and not self.health.rebuilding:
            self._start_rebuild()
        elif not lost:
            self.health.rebuilding = False
            if missing or present - expected:
                self._jobs().sync_index()  # a few documents behind: repaired quietly

    def _start_rebuild(self) -> None:
        """Searches answer 503 until the index holds (nearly) every document again; the
        synchronisation runs in the worker (or right here when jobs run inline)."""
        self.health.rebuilding = True
        self._jobs().sync_index()
        self._check_index()  # done already when the job ran inline

    def _index_failed(self, error: Exception) -> None:
        """An index write failed after a commit: compare and repair at the next search."""
        self.health.checked_at = 0.0
        self.health.rebuilding = self.health.rebuilding or not self._index_present()

    def _load_dictionary(self) -> None:
        """Every process (web, worker, CLI) adds the same framework terms before it tokenizes."""
        if self.load_dictionary is None:
            return
        session = self.session()
        try:
            self.load_dictionary(session)
        except SQLAlchemyError:  # no schema yet (before `evidence init`): nothing to load
            session.rollback()
        finally:
            session.close()

    def index_options(self) -> dict[str, Any]:
        if self.config.SEARCH_BACKEND == "postgres":
            return {"engine": self.engine}
        return {"path": self.config.INDEX_DIR}

    def check_schema(self) -> None:
        if current_revision(self.engine) != head_revision():
            raise NotInitializedError("数据库未初始化或版本过旧，请先运行 evidence init")

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        self.blobs.close()
        self.engine.dispose()
