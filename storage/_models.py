"""Database models (SQLAlchemy 2.0, typed). No Flask here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

STAFF_ROLES = ("admin", "staff", "reviewer", "auditor")  # the college's own accounts
ROLES = (*STAFF_ROLES, "expert")  # experts are invited (evidence expert invite)
MARKS = ("ok", "more", "question")  # 句号 认可, 破折号 调阅, 问号 入校核查
REQUEST_STATES = ("open", "answered", "closed")


class DocumentStatus(StrEnum):
    """Where a document is in processing (stored as its value)."""

    PENDING = "pending"
    PROCESSING = "processing"
    INDEXED = "indexed"
    FAILED = "failed"
    EMPTY = "empty"
    ENCRYPTED = "encrypted"
    UNSUPPORTED = "unsupported"


DOCUMENT_STATUSES = tuple(DocumentStatus)


class ReviewStatus(StrEnum):
    """A document's review state (待审 / 通过 / 需补充)."""

    PENDING = "pending"
    APPROVED = "approved"
    NEEDS_MORE = "needs_more"


REVIEW_STATUSES = tuple(ReviewStatus)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # staff limited to the indicators assigned to them (UserAssignment)
    limited_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    # part of every login session's id: bumping it ends all of the user's sessions
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # outside experts (role "expert"): the framework they review, until when, and how
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    expert_framework_id: Mapped[int | None] = mapped_column(
        ForeignKey("frameworks.id", ondelete="SET NULL"), nullable=True
    )
    can_download: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    # the attributes a login manager expects of a user object
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        """Active and within its access period (experts' accounts end at ``expires_at``)."""
        return bool(self.active) and not self.expired

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The session's user id: the id and the session generation ("5:2"), so that a
        session from before a logout or password change no longer loads the user."""
        return f"{self.id}:{self.session_generation}"


class ApiToken(Base):
    """An API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # "api" (a bearer token) or "signin" (the secret of an expert's sign-in link)
    purpose: Mapped[str] = mapped_column(String(10), default="api", server_default="api")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class Framework(Base):
    """One assessment's indicator tree (指标体系)."""

    __tablename__ = "frameworks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    year: Mapped[int | None] = mapped_column(Integer)
    source_name: Mapped[str] = mapped_column(String(255), default="")
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # An archived framework is kept but hidden from search, home and pickers.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime)

    indicators: Mapped[list[Indicator]] = relationship(
        back_populates="framework", cascade="all, delete-orphan", order_by="Indicator.position"
    )
    entries: Mapped[list[CatalogEntry]] = relationship(
        back_populates="framework", cascade="all, delete-orphan", order_by="CatalogEntry.position"
    )
    anomalies: Mapped[list[ImportAnomaly]] = relationship(
        back_populates="framework", cascade="all, delete-orphan", order_by="ImportAnomaly.id"
    )


class Indicator(Base):
    """A node of the tree: level 1/2/3 (level-3 rows carry rules, scores and the catalog).

    Alternatives (公办/民办 rows sharing one code) are separate rows told apart by
    ``variant`` (0 for the first, 1 for the second ...).
    """

    __tablename__ = "indicators"
    __table_args__ = (UniqueConstraint("framework_id", "code", "variant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(40))
    variant: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(Text)
    max_points: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(40), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    scoring_rule: Mapped[str] = mapped_column(Text, default="")
    self_score: Mapped[float | None] = mapped_column(Float)
    row_number: Mapped[str] = mapped_column(String(20), default="")  # 序号 in the table
    remarks: Mapped[str] = mapped_column(Text, default="")
    department: Mapped[str] = mapped_column(String(120), default="")
    owner: Mapped[str] = mapped_column(String(120), default="")
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)

    # Performance indicators (绩效指标, KPIs) live in the same tree: ``kind`` is "indicator"
    # for the assessment table's rows, "kpi" for an imported KPI row and "kpi_group" for the
    # nodes the KPIs hang under (绩效指标 / 数量指标 …). Targets and texts are kept as written.
    kind: Mapped[str] = mapped_column(String(20), default="indicator", server_default="indicator")
    category: Mapped[str] = mapped_column(String(40), default="", server_default="")  # 数量 …
    final_target: Mapped[str] = mapped_column(Text, default="", server_default="")  # 期满目标值
    midterm_target: Mapped[str] = mapped_column(Text, default="", server_default="")  # 中期目标值
    achieved_value: Mapped[float | None] = mapped_column(Float)  # 中期实现值, when a number
    achieved_text: Mapped[str] = mapped_column(Text, default="", server_default="")  # as written
    # 中期完成度 as reported, in percent (200.0 for "200%"); the text keeps what was written
    reported_completion: Mapped[float | None] = mapped_column(Float)
    reported_completion_text: Mapped[str] = mapped_column(String(40), default="", server_default="")
    source_ref: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # 计分方法 inputs entered by staff: 实际值, the reference (所在规划学校平均水平, 合格要求)
    # and, for rules that need more, the other inputs by key (see evidence_app.kpi)
    measured_value: Mapped[float | None] = mapped_column(Float)
    reference_value: Mapped[float | None] = mapped_column(Float)
    measured_inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    framework: Mapped[Framework] = relationship(back_populates="indicators")
    parent: Mapped[Indicator | None] = relationship(
        remote_side="Indicator.id", back_populates="children"
    )
    children: Mapped[list[Indicator]] = relationship(
        back_populates="parent", order_by="Indicator.position"
    )
    entries: Mapped[list[CatalogEntry]] = relationship(
        back_populates="indicator", order_by="CatalogEntry.position"
    )


class CatalogEntry(Base):
    """A numbered evidence entry (佐证材料目录条目) listed in an indicator's catalog cell.

    Codes are kept as written: the same code may appear twice (a recorded anomaly), so the
    key for re-import is (indicator, code, occurrence).
    """

    __tablename__ = "catalog_entries"
    __table_args__ = (UniqueConstraint("indicator_id", "code", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40), index=True)
    occurrence: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    department: Mapped[str] = mapped_column(String(120), default="")
    owner: Mapped[str] = mapped_column(String(120), default="")
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)

    framework: Mapped[Framework] = relationship(back_populates="entries")
    indicator: Mapped[Indicator] = relationship(back_populates="entries")


class ImportAnomaly(Base):
    """A mistake found in the imported table, recorded, never repaired."""

    __tablename__ = "import_anomalies"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(40), default="")
    indicator_code: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")

    framework: Mapped[Framework] = relationship(back_populates="anomalies")


class Blob(Base):
    """A stored file content, named by its SHA-256."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: when the stored bytes were found not to match the hash (a download or ``verify``);
    #: cleared by ``verify`` once they match again (restored from a backup)
    damaged_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Document(Base):
    """An uploaded evidence file (佐证材料); its bytes live in versions."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int | None] = mapped_column(
        ForeignKey("frameworks.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(40), default="", index=True)
    file_type: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.PENDING, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    page_count: Mapped[int] = mapped_column(Integer, default=0)
    ocr_pages: Mapped[int] = mapped_column(Integer, default=0)
    review_status: Mapped[str] = mapped_column(String(20), default="pending")
    source_path: Mapped[str] = mapped_column(Text, default="")  # path inside a ZIP/folder
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document",
        cascade="all, delete-orphan",
        order_by="DocumentVersion.number",
    )
    links: Mapped[list[DocumentLink]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )
    pages: Mapped[list[DocumentPage]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="DocumentPage.number"
    )
    uploaded_by: Mapped[User | None] = relationship()

    @property
    def current(self) -> DocumentVersion | None:
        return self.versions[-1] if self.versions else None


class DocumentVersion(Base):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"), index=True)
    original_name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # What the reader found in the file besides its text: signatures (electronic seals,
    # digital signatures: [{"kind", "signer", ...}]) and metadata (title, author, dates,
    # DocID, invoice fields, EXIF orientation). Written by processing, shown in lists.
    signature_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    signatures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=list)
    file_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)

    document: Mapped[Document] = relationship(back_populates="versions")
    blob: Mapped[Blob] = relationship()


class DocumentLink(Base):
    """A document filling a catalog entry, or attached to an indicator directly."""

    __tablename__ = "document_links"
    __table_args__ = (
        UniqueConstraint("document_id", "entry_id"),
        UniqueConstraint("document_id", "indicator_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("catalog_entries.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int | None] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    # The code the link was made from, so a re-imported table can relink by code.
    code: Mapped[str] = mapped_column(String(40), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    document: Mapped[Document] = relationship(back_populates="links")
    entry: Mapped[CatalogEntry | None] = relationship()
    indicator: Mapped[Indicator | None] = relationship()


class DocumentPage(Base):
    """Extracted text of one page of a document's current version (derived data)."""

    __tablename__ = "document_pages"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10), default="text")

    document: Mapped[Document] = relationship(back_populates="pages")


class TextSignature(Base):
    """A document's near-duplicate fingerprint (MinHash of its text), kept between audits.

    ``pages_key`` is the largest id of the document's pages when it was computed: pages are
    replaced (new ids) whenever the document is processed again, so a signature whose key
    differs from the current one is stale. An empty signature: text too short to compare.
    """

    __tablename__ = "text_signatures"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    pages_key: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class AuditLog(Base):
    """Who changed what, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(80), default="")
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UserAssignment(Base):
    """A staff member's responsibility for an indicator (and its subtree)."""

    __tablename__ = "user_assignments"
    __table_args__ = (UniqueConstraint("user_id", "indicator_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship()
    indicator: Mapped[Indicator] = relationship()


class DocumentReview(Base):
    """A reviewer's verdict on a document version, with a comment."""

    __tablename__ = "document_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    version_number: Mapped[int] = mapped_column(Integer, default=1)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    reviewer: Mapped[User | None] = relationship()


class IndicatorReview(Base):
    """An expert score and comment for an indicator (the newest one counts)."""

    __tablename__ = "indicator_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    expert_score: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    reviewer: Mapped[User | None] = relationship()


class Comment(Base):
    """A remark on a document or an indicator."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int | None] = mapped_column(
        ForeignKey("indicators.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User | None] = relationship()


class Setting(Base):
    """A setting an admin changes in the app (e.g. ``watermark_all``)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class ExpertMark(Base):
    """An outside expert's mark on an indicator (网评): ok 句号, more 破折号, question 问号,
    with a comment and a score. ``final`` rows are the group lead's merged mark."""

    __tablename__ = "expert_marks"
    __table_args__ = (UniqueConstraint("indicator_id", "expert_id", "final"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    mark: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    indicator: Mapped[Indicator] = relationship()
    expert: Mapped[User] = relationship()


class MaterialRequest(Base):
    """A 调阅 request: an expert asks for more material on an indicator; staff answer it by
    uploading (``documents``); the expert sees the answer as new and marks again."""

    __tablename__ = "material_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    framework_id: Mapped[int] = mapped_column(
        ForeignKey("frameworks.id", ondelete="CASCADE"), index=True
    )
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    answer_note: Mapped[str] = mapped_column(Text, default="")
    seen_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    indicator: Mapped[Indicator] = relationship()
    expert: Mapped[User | None] = relationship(foreign_keys=[expert_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
    documents: Mapped[list[Document]] = relationship(secondary="material_request_documents")


class MaterialRequestDocument(Base):
    """A document uploaded (or linked) in answer to a 调阅 request."""

    __tablename__ = "material_request_documents"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("material_requests.id", ondelete="CASCADE"), primary_key=True
    )
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
