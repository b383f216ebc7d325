"""Who may do what: one table, checked by every route and API endpoint."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import CatalogEntry, Document, DocumentLink, Indicator, User, UserAssignment

ALL = ("admin", "staff", "reviewer", "auditor")

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "home": (*ALL, "expert"),  # the start page (experts are sent on to their review)
    "read": ALL,  # frameworks, indicators, the tree and its counts
    "read_documents": (*ALL, "expert"),  # a document, its pages, its file (within scope)
    "search": (*ALL, "expert"),  # results only from readable documents
    "mark": ("expert",),  # 网评: marks, 调阅 requests, 入校 questions
    "marks_overview": ("admin", "reviewer", "auditor"),  # every expert's marks (+ leads)
    "requests": ("admin", "staff"),  # answer 调阅 requests
    "upload": ("admin", "staff"),
    "manage_documents": ("admin", "staff"),  # versions, links, delete, retry
    "review": ("admin", "reviewer"),  # document verdicts, expert scores
    "comment": ("admin", "reviewer", "auditor"),
    "coverage": ALL,  # the coverage page (limited staff: their scope only)
    "coverage_export": ("admin", "auditor", "reviewer"),  # the workbook and the package
    "tasks": ("admin", "staff"),
    "queue": ("admin", "staff"),
    "audit_log": ("admin", "auditor"),
    "users": ("admin",),
    "frameworks_import": ("admin",),
    "tokens": ALL,  # one's own API tokens
}

ROLE_LABELS = {
    "admin": "管理员",
    "staff": "材料员",
    "reviewer": "评审专家",
    "auditor": "督导审计",
    "expert": "评估专家",
}


def can(user: User | None, permission: str) -> bool:
    if user is None or not user.is_active:  # inactive, or an expert past the period
        return False
    return user.role in PERMISSIONS[permission]


def is_scoped(user: User) -> bool:
    """Whether the user sees only part of the library: limited staff and every expert."""
    return user.role == "expert" or (user.role == "staff" and user.limited_scope)


def scoped_indicator_ids(session: Session, user: User) -> set[int] | None:
    """The one scope: indicator ids (subtrees included) the user may work on; None = all.

    Limited staff: the indicators assigned to them or owned by them. Experts: the
    indicators they were invited for, else every indicator of their framework."""
    if not is_scoped(user):
        return None
    roots = set(
        session.scalars(
            select(UserAssignment.indicator_id).where(UserAssignment.user_id == user.id)
        )
    )
    if user.role == "expert":
        if user.expert_framework_id is None:
            return set()
        if not user.limited_scope:
            return set(
                session.scalars(
                    select(Indicator.id).where(Indicator.framework_id == user.expert_framework_id)
                )
            )
    else:
        roots |= set(
            session.scalars(select(Indicator.id).where(Indicator.owner_user_id == user.id))
        )
    if not roots:
        return set()
    out = set(roots)
    frontier = set(roots)
    while frontier:
        children = set(
            session.scalars(select(Indicator.id).where(Indicator.parent_id.in_(frontier)))
        )
        frontier = children - out
        out |= children
    return out


def can_manage_document(session: Session, user: User | None, document: Document) -> bool:
    """Staff with a limited scope manage only documents in their indicators (or their own)."""
    if user is None or not can(user, "manage_documents"):
        return False
    return _in_scope(session, user, document)


def can_read_document(session: Session, user: User | None, document: Document) -> bool:
    """Every read path of one document (page, pages, file, API) asks this."""
    if document.deleted and (user is None or user.role != "admin"):
        return False
    if user is None or not can(user, "read_documents"):
        return False
    return _in_scope(session, user, document)


def _in_scope(session: Session, user: User, document: Document) -> bool:
    scope = scoped_indicator_ids(session, user)
    if scope is None:
        return True
    if user.role != "expert" and document.uploaded_by_id == user.id:
        return True
    return any(_link_indicator_id(link) in scope for link in document.links)


def readable_framework_ids(user: User) -> set[int] | None:
    """Frameworks the user may see at all; None means all (experts: theirs only)."""
    if user.role != "expert":
        return None
    return {user.expert_framework_id} if user.expert_framework_id is not None else set()


def readable_document_ids(session: Session, user: User) -> set[int] | None:
    """Document ids the user may see (search, lists, counts); None means all."""
    scope = scoped_indicator_ids(session, user)
    if scope is None:
        return None
    via_entry = (
        select(DocumentLink.document_id)
        .join(CatalogEntry, CatalogEntry.id == DocumentLink.entry_id)
        .where(CatalogEntry.indicator_id.in_(scope))
    )
    via_indicator = select(DocumentLink.document_id).where(DocumentLink.indicator_id.in_(scope))
    own = select(Document.id).where(Document.uploaded_by_id == user.id)
    ids: set[int] = set()
    for stmt in (
        (via_entry, via_indicator) if user.role == "expert" else (via_entry, via_indicator, own)
    ):
        ids |= set(session.scalars(stmt))
    return ids


def _link_indicator_id(link: DocumentLink) -> int | None:
    if link.entry is not None:
        return link.entry.indicator_id
    return link.indicator_id
