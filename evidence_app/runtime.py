"""What the app, the CLI and the worker share: database engine, sessions, blob store, index.

Created once per process from a Config; ``storage`` and ``indexer`` get paths and objects
from here, never from ``current_app.config``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from config import Config
from storage import (
    BlobStore,
    create_db_engine,
    current_revision,
    head_revision,
    make_session_factory,
)

if TYPE_CHECKING:
    from indexer import SearchBackend


log = logging.getLogger(__name__)


class NotInitializedError(RuntimeError):
    """The database has no schema (or an old one): run ``evidence init``."""


class Runtime:
    def __init__(self, config: Config) -> None:
        self.config = config
        if config.DATABASE_URL.startswith("sqlite:///"):
            Path(config.DATABASE_URL[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_db_engine(config.DATABASE_URL)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.blobs = BlobStore(config.BLOB_DIR)
        self._index: SearchBackend | None = None
        self._lock = threading.Lock()
        self._huey: Any = None
        self.process_task: Any = None
        self.reindex_task: Any = None
        self.rebuild_pending = False

    @property
    def huey(self) -> Any:  # noqa: ANN401
        """The job queue (huey), created on first use."""
        if self._huey is None:
            with self._lock:
                if self._huey is None:
                    from evidence_app.tasks import make_huey

                    self._huey = make_huey(self)
        return self._huey

    def enqueue(self, document_ids: list[int]) -> None:
        """Queue documents for extraction and indexing by a worker."""
        if not document_ids:
            return
        self.huey  # noqa: B018 - registers the task
        self.process_task(list(document_ids))

    def session(self) -> Session:
        return self.sessions()

    @property
    def index(self) -> SearchBackend:
        """The search backend, opened on first use."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._load_dictionary()
                    self._index = self._open_index()
        if self.rebuild_pending:
            self.schedule_rebuild()
        return self._index

    def _open_index(self) -> SearchBackend:
        """Open the index; one built by an older version is recreated empty and rebuilt
        from the database by the job queue (a worker, or right away in immediate mode)."""
        from indexer import IndexLayoutError, open_index

        kind = self.config.SEARCH_BACKEND
        try:
            return open_index(kind, **self.index_options())
        except IndexLayoutError as e:
            log.warning("search index layout changed (%s): rebuilding it", e)
        index = open_index(kind, recreate=True, **self.index_options())
        self.rebuild_pending = True
        return index

    def schedule_rebuild(self) -> None:
        """Queue the rebuild of a recreated index (see ``_open_index``)."""
        if self.rebuild_pending:
            self.rebuild_pending = False
            self.huey  # noqa: B018 - registers the task
            self.reindex_task()

    def _load_dictionary(self) -> None:
        """Every process (web, worker, CLI) adds the same framework terms before it tokenizes."""
        from sqlalchemy.exc import SQLAlchemyError

        from evidence_app.services.frameworks import load_framework_terms

        session = self.session()
        try:
            load_framework_terms(session)
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
        self.engine.dispose()
