"""Responsibility: who (department, person) must supply an indicator's or an entry's evidence,
and by when; each person's open tasks, nearest due date first.

An entry's responsible person and due date are its own when set, else its indicator's. A
person's tasks are the empty entries (missing, or only unreadable files) of applicable
indicators that are theirs: the entry's (or, when the entry names nobody, the indicator's)
``owner_user_id`` is the user or ``owner`` is their display name or user name; or the user
is assigned (UserAssignment) to the indicator or one of its ancestors.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.coverage.operations import (
    ENTRY_STATE_LABELS,
    STATE_NONE,
    Coverage,
    EntryCoverage,
    IndicatorCoverage,
    compute_coverage,
    is_past_due,
)
from storage import CatalogEntry, Framework, Indicator, User, UserAssignment

UNSET: Any = object()
MAX_NAME = 120


class AssignmentError(ValueError):
    """Invalid responsibility input; the message (Chinese) is for the person who entered it."""


def _parse_due(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value.replace("/", "-").replace(".", "-"))
    except ValueError as e:
        raise AssignmentError(f"截止日期格式不对：{value}（应为 2024-06-30）") from e


def set_responsibility(
    session: Session,
    target: Indicator | CatalogEntry,
    actor: User | None,
    *,
    department: str | None = UNSET,
    owner: str | None = UNSET,
    owner_user: User | int | None = UNSET,
    due_date: date | str | None = UNSET,
) -> dict[str, Any]:
    """Set (or, with None / "", clear) the department, person and due date of an indicator or
    an entry; only the arguments given change. Returns {field: [old, new]} of the changes.

    Naming a user as owner also fills ``owner`` with their display name unless it is given.
    """
    changes: dict[str, list[Any]] = {}

    def change(field: str, value: Any) -> None:
        old = getattr(target, field)
        if old != value:
            setattr(target, field, value)
            changes[field] = [
                old.isoformat() if isinstance(old, date) else old,
                value.isoformat() if isinstance(value, date) else value,
            ]

    if department is not UNSET:
        department = (department or "").strip()
        if len(department) > MAX_NAME:
            raise AssignmentError(f"部门名称不能超过 {MAX_NAME} 字")
        change("department", department)
    if owner_user is not UNSET:
        user = session.get(User, owner_user) if isinstance(owner_user, int) else owner_user
        if owner_user is not None and user is None:
            raise AssignmentError(f"用户 {owner_user} 不存在")
        change("owner_user_id", user.id if user else None)
        if owner is UNSET and user is not None:
            owner = user.display_name or user.username
    if owner is not UNSET:
        owner = (owner or "").strip()
        if len(owner) > MAX_NAME:
            raise AssignmentError(f"责任人不能超过 {MAX_NAME} 字")
        change("owner", owner)
    if due_date is not UNSET:
        change("due_date", _parse_due(due_date))
    session.flush()
    if changes:
        kind = "indicator" if isinstance(target, Indicator) else "entry"
        audit.record(
            session, actor, f"{kind}.responsibility", target, code=target.code, changes=changes
        )
    return changes


def assign_user(
    session: Session, user: User, indicator: Indicator, actor: User | None
) -> UserAssignment:
    """Make ``user`` responsible for an indicator and its subtree (idempotent)."""
    existing = session.scalars(
        select(UserAssignment).where(
            UserAssignment.user_id == user.id, UserAssignment.indicator_id == indicator.id
        )
    ).first()
    if existing is not None:
        return existing
    row = UserAssignment(user_id=user.id, indicator_id=indicator.id)
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "assignment.add", indicator, assignee=user.username, code=indicator.code
    )
    return row


def unassign_user(session: Session, user: User, indicator: Indicator, actor: User | None) -> bool:
    row = session.scalars(
        select(UserAssignment).where(
            UserAssignment.user_id == user.id, UserAssignment.indicator_id == indicator.id
        )
    ).first()
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(
        session, actor, "assignment.remove", indicator, assignee=user.username, code=indicator.code
    )
    return True


def department_coverage(session: Session, framework_id: int) -> list[dict[str, Any]]:
    """Entries filled / missing / overdue per responsible department ("" = nobody named)."""
    return compute_coverage(session, framework_id).by_department()


def _names(user: User) -> set[str]:
    return {n.strip() for n in (user.display_name, user.username) if n and n.strip()}


def _is_mine(
    user: User,
    names: set[str],
    owner_user_id: int | None,
    owner: str,
) -> bool:
    return owner_user_id == user.id or (bool(owner) and owner.strip() in names)


def _entry_is_mine(
    user: User, names: set[str], leaf: IndicatorCoverage, entry: EntryCoverage
) -> bool:
    if entry.owner_user_id is not None or entry.owner:
        return _is_mine(user, names, entry.owner_user_id, entry.owner)
    return _is_mine(user, names, leaf.owner_user_id, leaf.owner)


def my_tasks(
    session: Session,
    user: User,
    *,
    framework_id: int | None = None,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """The user's empty entries (and empty indicators without a catalog), over every
    framework or one: overdue and nearest due date first, undated last, then table order."""
    return open_tasks(session, user, framework_id=framework_id, today=today)[0]


def open_tasks(
    session: Session,
    user: User,
    *,
    framework_id: int | None = None,
    today: date | None = None,
    scope: set[int] | None = None,
    fallback: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    """The user's tasks as ``my_tasks`` lists them, and whether they are the user's own.

    With ``fallback``, a user responsible for nothing at all (no owner named anywhere, no
    assignment) gets every empty entry within ``scope`` instead, and False: a new team
    sees what is missing before an admin has handed out the work."""
    today = today or date.today()
    names = _names(user)
    assigned = set(
        session.scalars(
            select(UserAssignment.indicator_id).where(UserAssignment.user_id == user.id)
        )
    )
    if framework_id is None:
        framework_ids = list(
            session.scalars(
                select(Framework.id).where(Framework.archived_at.is_(None)).order_by(Framework.id)
            )
        )
    else:
        framework_ids = [framework_id]
    tasks: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    responsible = False
    for fid in framework_ids:
        coverage = compute_coverage(session, fid)
        for leaf in coverage.leaves:
            if not leaf.applicable:
                continue
            via_assignment = _assigned(coverage, leaf, assigned)
            if leaf.entries:
                for e in leaf.entries:
                    mine = via_assignment or _entry_is_mine(user, names, leaf, e)
                    responsible = responsible or mine
                    if e.empty:
                        (tasks if mine else others).append(_task(coverage, leaf, e, today))
            else:
                mine = via_assignment or _is_mine(user, names, leaf.owner_user_id, leaf.owner)
                responsible = responsible or mine
                if leaf.state == STATE_NONE and not leaf.pending_ids:
                    (tasks if mine else others).append(_task(coverage, leaf, None, today))
    own = True
    if fallback and not responsible:
        tasks = [t for t in others if scope is None or t["indicator_id"] in scope]
        own = False
    tasks.sort(
        key=lambda t: (
            t["due_date"] is None,
            t["due_date"] or "",
            t["framework_id"],
            t["position"],
        )
    )
    for t in tasks:
        del t["position"]
    return tasks, own


def _assigned(coverage: Coverage, leaf: IndicatorCoverage, assigned: set[int]) -> bool:
    node: IndicatorCoverage | None = leaf
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id in assigned:
            return True
        seen.add(node.id)
        node = coverage.indicator(node.parent_id) if node.parent_id is not None else None
    return False


def _task(
    coverage: Coverage, leaf: IndicatorCoverage, entry: EntryCoverage | None, today: date
) -> dict[str, Any]:
    due = entry.due_date if entry is not None else leaf.due_date
    return {
        "framework_id": coverage.framework_id,
        "framework": coverage.framework_name,
        "indicator_id": leaf.id,
        "indicator_code": leaf.code,
        "indicator_name": leaf.name,
        "entry_id": entry.id if entry else None,
        "code": entry.code if entry else leaf.code,
        "title": entry.title if entry else leaf.name,
        "state": entry.state if entry else "missing",
        "state_label": ENTRY_STATE_LABELS[entry.state if entry else "missing"],
        "documents": entry.documents if entry else sorted(leaf.document_ids),
        "department": (entry.department if entry and entry.department else leaf.department),
        "due_date": due.isoformat() if due else None,
        "days_left": (due - today).days if due else None,
        "overdue": is_past_due(due, today),
        "link": f"/indicators/{leaf.id}",
        "position": (leaf.position, entry.position if entry else -1),
    }
