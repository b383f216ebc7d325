"""Who may do what: one table, checked by every route and API endpoint."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import CatalogEntry, Document, DocumentLink, Indicator, User, UserAssignment

ALL = ("admin", "staff", "reviewer", "auditor")

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "read": ALL,  # frameworks, indicators, documents (within document access)
    "search": ALL,
    "upload": ("admin", "staff"),
    "manage_documents": ("admin", "staff"),  # versions, links, delete, retry
    "review": ("admin", "reviewer"),  # document verdicts, expert scores
    "comment": ("admin", "reviewer", "auditor"),
    "coverage": ("admin", "auditor", "reviewer"),
    "tasks": ("admin", "staff"),
    "queue": ("admin", "staff"),
    "audit_log": ("admin", "auditor"),
    "users": ("admin",),
    "frameworks_import": ("admin",),
    "tokens": ALL,  # one's own API tokens
}

ROLE_LABELS = {"admin": "管理员", "staff": "材料员", "reviewer": "评审专家", "auditor": "督导审计"}


def can(user: User | None, permission: str) -> bool:
    if user is None or not user.active:
        return False
    return user.role in PERMISSIONS[permission]


def scoped_indicator_ids(session: Session, user: User) -> set[int] | None:
    """Indicator ids a limited staff member may manage (subtrees included); None = all."""
    if user.role != "staff" or not user.limited_scope:
        return None
    roots = set(
        session.scalars(
            select(UserAssignment.indicator_id).where(UserAssignment.user_id == user.id)
        )
    )
    roots |= set(session.scalars(select(Indicator.id).where(Indicator.owner_user_id == user.id)))
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
    scope = scoped_indicator_ids(session, user)
    if scope is None:
        return True
    if document.uploaded_by_id == user.id:
        return True
    return any(_link_indicator_id(link) in scope for link in document.links)


def can_read_document(session: Session, user: User | None, document: Document) -> bool:
    if document.deleted and (user is None or user.role != "admin"):
        return False
    if user is None or not can(user, "read"):
        return False
    if user.role == "staff" and user.limited_scope:
        return can_manage_document(session, user, document)
    return True


def readable_document_ids(session: Session, user: User) -> set[int] | None:
    """Document ids the user may see in search results; None means all."""
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
    for stmt in (via_entry, via_indicator, own):
        ids |= set(session.scalars(stmt))
    return ids


def _link_indicator_id(link: DocumentLink) -> int | None:
    if link.entry is not None:
        return link.entry.indicator_id
    return link.indicator_id
