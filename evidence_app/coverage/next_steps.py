"""What to do next, per role: the home page's 下一步 card and the 我的任务 page.

- staff (and admins): the entries still missing in their work (their own tasks, or every
  missing entry of their scope while nobody has been given any), open 调阅 requests,
  files that were refused or cannot be read, and files not linked to any entry;
- reviewers: the indicators whose files wait for a verdict;
- auditors (and admins): the gaps of the newest framework, linking to the coverage page.

Every list is within the user's scope; each item carries the link where it is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evidence_app.auth.permissions import can, readable_document_ids, scoped_indicator_ids
from evidence_app.coverage.assignments import open_tasks
from evidence_app.coverage.operations import Coverage, compute_coverage, document_class
from evidence_app.review.requests import staff_requests
from storage import Document, DocumentLink, DocumentStatus, Framework, MaterialRequest, User

#: statuses of files that will never count as evidence until someone acts
PROBLEM_STATUSES = (
    DocumentStatus.FAILED,
    DocumentStatus.EMPTY,
    DocumentStatus.ENCRYPTED,
    DocumentStatus.UNSUPPORTED,
)
SHOWN = 8  # items listed per group on the home page (the counts are complete)


@dataclass
class NextSteps:
    tasks: list[dict[str, Any]] = field(default_factory=list)
    tasks_own: bool = True  # False: nobody was given work, these are all missing entries
    overdue: int = 0
    requests: list[MaterialRequest] = field(default_factory=list)
    problems: list[Document] = field(default_factory=list)
    problem_count: int = 0
    unlinked: list[Document] = field(default_factory=list)
    unlinked_count: int = 0
    review: list[dict[str, Any]] = field(default_factory=list)
    gaps: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.tasks
            or self.requests
            or self.problem_count
            or self.unlinked_count
            or self.review
            or (self.gaps and self.gaps["total"])
        )


def next_steps(session: Session, user: User) -> NextSteps:
    steps = NextSteps()
    scope = scoped_indicator_ids(session, user)
    if can(user, "tasks"):
        steps.tasks, steps.tasks_own = open_tasks(session, user, scope=scope, fallback=True)
        steps.overdue = sum(1 for t in steps.tasks if t["overdue"])
    if can(user, "requests"):
        steps.requests = staff_requests(session, user)
    if can(user, "manage_documents"):
        steps.problems, steps.problem_count = _documents(
            session, user, Document.status.in_(PROBLEM_STATUSES)
        )
        steps.unlinked, steps.unlinked_count = _documents(
            session, user, ~Document.links.any(DocumentLink.id.is_not(None))
        )
    framework_id = session.scalar(
        select(Framework.id)
        .where(Framework.archived_at.is_(None))
        .order_by(Framework.id.desc())
        .limit(1)
    )
    if framework_id is not None and user.role in ("reviewer", "auditor", "admin"):
        coverage = compute_coverage(session, framework_id)  # once, for both lists
        if user.role in ("reviewer", "admin"):
            steps.review = waiting_for_review(coverage.within(scope))
        if user.role in ("auditor", "admin"):
            steps.gaps = framework_gaps(coverage)
    return steps


def _documents(session: Session, user: User, condition: Any) -> tuple[list[Document], int]:
    """The user's documents (an admin's: everyone's) matching ``condition``: the newest
    few and how many there are."""
    where = [Document.deleted.is_(False), condition]
    if user.role != "admin":
        where.append(Document.uploaded_by_id == user.id)
    readable = readable_document_ids(session, user)
    if readable is not None:
        where.append(Document.id.in_(readable))
    count = session.scalar(select(func.count(Document.id)).where(*where)) or 0
    rows = list(
        session.scalars(select(Document).where(*where).order_by(Document.id.desc()).limit(SHOWN))
    )
    return rows, count


def waiting_for_review(coverage: Coverage) -> list[dict[str, Any]]:
    """Leaf indicators with readable files that have no verdict yet, most waiting first."""
    out: list[dict[str, Any]] = []
    for leaf in coverage.leaves:
        waiting = [
            d
            for d in leaf.document_ids
            if document_class(coverage.document_status[d][0]) == "usable"
            and coverage.document_status[d][1] == "pending"
        ]
        if waiting:
            out.append(
                {
                    "indicator_id": leaf.id,
                    "code": leaf.code,
                    "name": leaf.name,
                    "waiting": len(waiting),
                    "framework": coverage.framework_name,
                }
            )
    out.sort(key=lambda r: -r["waiting"])
    return out


def framework_gaps(coverage: Coverage) -> dict[str, Any]:
    """The newest framework's gaps in the coverage page's words (same figures)."""
    totals = coverage.totals
    claimed = [
        leaf
        for leaf in coverage.leaves
        if leaf.applicable
        and not leaf.usable_ids
        and not leaf.pending_ids
        and (leaf.self_score or 0) > 0
    ]
    return {
        "framework_id": coverage.framework_id,
        "framework": coverage.framework_name,
        "entries_missing": totals.entries_missing,
        "entries_unusable": totals.entries_unusable,
        "claimed_without_evidence": len(claimed),
        "total": totals.entries_missing + totals.entries_unusable + len(claimed),
    }
