"""The audit trail: every change records who, what and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage import AuditLog, User


def record(
    session: Session,
    user: User | None,
    action: str,
    obj: Any = None,
    **detail: Any,
) -> AuditLog:
    """Add an audit entry for ``action`` on ``obj`` (a model instance or None)."""
    entry = AuditLog(
        user_id=user.id if user is not None else None,
        username=user.username if user is not None else "system",
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        detail=detail,
    )
    session.add(entry)
    return entry
