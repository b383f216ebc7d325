"""Database models, sessions, migrations and the content-addressed blob store. No Flask."""

from storage._blobs import BlobStore
from storage._db import create_db_engine, make_session_factory, session_scope
from storage._errors import BlobNotFoundError, BlobTooLargeError, StorageError, StorageFullError
from storage._migrate import current_revision, head_revision, upgrade_database
from storage._models import (
    DOCUMENT_STATUSES,
    ROLES,
    ApiToken,
    AuditLog,
    Base,
    Blob,
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentPage,
    DocumentVersion,
    Framework,
    ImportAnomaly,
    Indicator,
    User,
    utcnow,
)

__all__ = [
    "DOCUMENT_STATUSES",
    "ROLES",
    "ApiToken",
    "AuditLog",
    "Base",
    "Blob",
    "BlobNotFoundError",
    "BlobStore",
    "BlobTooLargeError",
    "CatalogEntry",
    "Document",
    "DocumentLink",
    "DocumentPage",
    "DocumentVersion",
    "Framework",
    "ImportAnomaly",
    "Indicator",
    "StorageError",
    "StorageFullError",
    "User",
    "create_db_engine",
    "current_revision",
    "head_revision",
    "make_session_factory",
    "session_scope",
    "upgrade_database",
    "utcnow",
]
