"""Coverage: which catalog entries and indicators have usable evidence, and how much of the
claimed score it supports.

Document states, as coverage sees them:

* usable — not deleted and ``indexed``: the file was read and has text. Only usable
  documents fill an entry, make an indicator complete or support a self-score.
* pending — ``pending`` / ``processing``: uploaded, not yet read. They fill nothing yet, so
  the figures never count a file nobody could open; but they are "on the way", so no
  missing/without-evidence/overdue finding is raised for what they are linked to (if reading
  fails the document turns unusable and the entry shows as such).
* unusable — ``failed`` / ``empty`` / ``encrypted`` / ``unsupported``: uploaded but unreadable.

Entry states: ``filled`` (a usable document), ``pending`` (only pending ones), ``unusable``
(only unreadable ones), ``missing`` (nothing linked).

Leaf-indicator states (a leaf is an indicator without children: level 3 in every framework
seen so far): ``not_applicable`` for an alternative row (variant > 0, or a code shared by
several rows, 公办/民办) with no self-score; otherwise ``complete`` when every catalog entry is
filled (or, with no catalog, when a usable document is linked to the indicator itself),
``partial`` when some usable evidence exists, ``none`` otherwise. Documents linked to the
indicator directly count as documents of the indicator.

Everything is computed from four column queries (indicators, entries, entry links, indicator
links); no ORM objects are loaded, so a framework with 2,000 documents takes a few ms.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import (
    CatalogEntry,
    Document,
    DocumentLink,
    DocumentStatus,
    Framework,
    Indicator,
    ReviewStatus,
)

USABLE_STATUSES = frozenset({DocumentStatus.INDEXED})
PENDING_STATUSES = frozenset({DocumentStatus.PENDING, DocumentStatus.PROCESSING})

ENTRY_FILLED = "filled"
ENTRY_PENDING = "pending"
ENTRY_UNUSABLE = "unusable"
ENTRY_MISSING = "missing"

STATE_COMPLETE = "complete"
STATE_PARTIAL = "partial"
STATE_NONE = "none"
STATE_NOT_APPLICABLE = "not_applicable"

STATE_LABELS = {
    STATE_COMPLETE: "齐全",
    STATE_PARTIAL: "部分",
    STATE_NONE: "缺失",
    STATE_NOT_APPLICABLE: "不适用",
}
ENTRY_STATE_LABELS = {
    ENTRY_FILLED: "已提供",
    ENTRY_PENDING: "处理中",
    ENTRY_UNUSABLE: "文件无法读取",
    ENTRY_MISSING: "缺失",
}


def document_class(status: str) -> str:
    """'usable', 'pending' or 'unusable' for a (not deleted) document's status."""
    if status in USABLE_STATUSES:
        return "usable"
    if status in PENDING_STATUSES:
        return "pending"
    return "unusable"


def is_past_due(due: date | None, today: date) -> bool:
    """The one overdue rule: work is overdue the day after its due date."""
    return due is not None and due < today


@dataclass
class EntryCoverage:
    id: int
    code: str
    title: str
    indicator_id: int
    position: int
    department: str
    owner: str
    owner_user_id: int | None
    own_due_date: date | None
    due_date: date | None  # the entry's own, else its indicator's
    usable: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    unusable: list[int] = field(default_factory=list)
    approved: bool = False  # a usable document linked here was approved
    applicable: bool = True

    @property
    def documents(self) -> list[int]:
        return sorted({*self.usable, *self.pending, *self.unusable})

    @property
    def state(self) -> str:
        if self.usable:
            return ENTRY_FILLED
        if self.pending:
            return ENTRY_PENDING
        if self.unusable:
            return ENTRY_UNUSABLE
        return ENTRY_MISSING

    @property
    def empty(self) -> bool:
        """Nothing usable and nothing on the way (missing, or only unreadable files)."""
        return self.state in (ENTRY_MISSING, ENTRY_UNUSABLE)

    def overdue(self, today: date) -> bool:
        """Still empty after its due date."""
        return self.empty and is_past_due(self.due_date, today)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "title": self.title,
            "indicator_id": self.indicator_id,
            "state": self.state,
            "documents": self.documents,
            "documents_usable": sorted(set(self.usable)),
            "approved": self.approved,
            "applicable": self.applicable,
            "department": self.department,
            "owner": self.owner,
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }


@dataclass
class Totals:
    """Counts over a set of leaf indicators (a level-1/2 subtree, a department, everything)."""

    indicators: int = 0
    indicators_complete: int = 0
    indicators_partial: int = 0
    indicators_none: int = 0
    indicators_not_applicable: int = 0
    indicators_approved: int = 0
    entries: int = 0
    entries_filled: int = 0
    entries_pending: int = 0
    entries_unusable: int = 0
    entries_missing: int = 0
    entries_approved: int = 0
    documents: int = 0
    documents_usable: int = 0
    points_total: float = 0.0
    points_covered: float = 0.0
    self_score_total: float = 0.0
    self_score_supported: float = 0.0
    _docs: set[int] = field(default_factory=set, repr=False)
    _usable: set[int] = field(default_factory=set, repr=False)

    def add(self, leaf: IndicatorCoverage) -> None:
        self.indicators += 1
        if leaf.state == STATE_NOT_APPLICABLE:
            self.indicators_not_applicable += 1
            return
        if leaf.state == STATE_COMPLETE:
            self.indicators_complete += 1
            self.points_covered += leaf.max_points or 0
        elif leaf.state == STATE_PARTIAL:
            self.indicators_partial += 1
        else:
            self.indicators_none += 1
        if leaf.approved:
            self.indicators_approved += 1
        for e in leaf.entries:
            self.entries += 1
            state = e.state
            if state == ENTRY_FILLED:
                self.entries_filled += 1
            elif state == ENTRY_PENDING:
                self.entries_pending += 1
            elif state == ENTRY_UNUSABLE:
                self.entries_unusable += 1
            else:
                self.entries_missing += 1
            if e.approved:
                self.entries_approved += 1
        self._docs.update(leaf.document_ids)
        self._usable.update(leaf.usable_ids)
        self.documents = len(self._docs)
        self.documents_usable = len(self._usable)
        self.points_total += leaf.max_points or 0
        self.self_score_total += leaf.self_score or 0
        if leaf.usable_ids:
            self.self_score_supported += leaf.self_score or 0

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        for key in ("points_total", "points_covered", "self_score_total", "self_score_supported"):
            data[key] = round(data[key], 2)
        return data


@dataclass
class IndicatorCoverage:
    id: int
    code: str
    variant: int
    name: str
    level: int
    parent_id: int | None
    position: int
    max_points: float | None
    self_score: float | None
    department: str
    owner: str
    owner_user_id: int | None
    due_date: date | None
    leaf: bool = True
    alternative: bool = False
    entries: list[EntryCoverage] = field(default_factory=list)
    # documents linked to the indicator itself (not to one of its entries)
    direct_usable: list[int] = field(default_factory=list)
    direct_pending: list[int] = field(default_factory=list)
    direct_unusable: list[int] = field(default_factory=list)
    direct_approved: bool = False
    children: list[IndicatorCoverage] = field(default_factory=list)
    totals: Totals | None = None  # for inner nodes: over the leaves below

    @property
    def applicable(self) -> bool:
        return not (self.alternative and self.self_score is None)

    @property
    def usable_ids(self) -> set[int]:
        ids = set(self.direct_usable)
        for e in self.entries:
            ids.update(e.usable)
        return ids

    @property
    def pending_ids(self) -> set[int]:
        ids = set(self.direct_pending)
        for e in self.entries:
            ids.update(e.pending)
        return ids

    @property
    def document_ids(self) -> set[int]:
        ids = {*self.direct_usable, *self.direct_pending, *self.direct_unusable}
        for e in self.entries:
            ids.update(e.documents)
        return ids

    @property
    def entries_filled(self) -> int:
        return sum(1 for e in self.entries if e.state == ENTRY_FILLED)

    @property
    def entries_approved(self) -> int:
        return sum(1 for e in self.entries if e.approved)

    @property
    def state(self) -> str:
        if not self.applicable:
            return STATE_NOT_APPLICABLE
        if self.entries:
            filled = self.entries_filled
            if filled == len(self.entries):
                return STATE_COMPLETE
            return STATE_PARTIAL if filled or self.direct_usable else STATE_NONE
        return STATE_COMPLETE if self.direct_usable else STATE_NONE

    def overdue_entries(self, today: date) -> list[EntryCoverage]:
        return [e for e in self.entries if e.overdue(today)]

    def overdue(self, today: date) -> bool:
        """An applicable leaf with an overdue entry, or, without a catalog, still without
        evidence (nor any on the way) after its due date."""
        if not self.applicable:
            return False
        if self.entries:
            return any(e.overdue(today) for e in self.entries)
        return (
            self.state == STATE_NONE and not self.pending_ids and is_past_due(self.due_date, today)
        )

    @property
    def approved(self) -> bool:
        """Every entry has an approved usable document (no catalog: one approved document)."""
        if not self.applicable:
            return False
        if self.entries:
            return all(e.approved for e in self.entries)
        return self.direct_approved

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "code": self.code,
            "variant": self.variant,
            "name": self.name,
            "level": self.level,
            "max_points": self.max_points,
            "self_score": self.self_score,
            "department": self.department,
            "owner": self.owner,
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }
        if self.leaf:
            data.update(
                state=self.state,
                entries=len(self.entries),
                entries_filled=self.entries_filled,
                entries_approved=self.entries_approved,
                documents=len(self.document_ids),
                documents_usable=len(self.usable_ids),
                documents_pending=len(self.pending_ids),
                approved=self.approved,
                alternative=self.alternative,
            )
        else:
            assert self.totals is not None
            data.update(self.totals.as_json())
        return data


@dataclass
class Coverage:
    framework_id: int
    framework_name: str
    indicators: list[IndicatorCoverage]  # every node, in table order
    entries: list[EntryCoverage]  # every entry, in table order
    totals: Totals
    # document id -> [(entry id or None, indicator id)], for the framework's linked documents
    document_links: dict[int, list[tuple[int | None, int]]]
    document_status: dict[int, tuple[str, str]]  # id -> (status, review_status)

    @property
    def leaves(self) -> list[IndicatorCoverage]:
        return [i for i in self.indicators if i.leaf]

    def indicator(self, indicator_id: int) -> IndicatorCoverage:
        return self._by_id[indicator_id]

    def entry(self, entry_id: int) -> EntryCoverage:
        return self._entries_by_id[entry_id]

    def __post_init__(self) -> None:
        self._by_id = {i.id: i for i in self.indicators}
        self._entries_by_id = {e.id: e for e in self.entries}

    def level(self, level: int) -> list[IndicatorCoverage]:
        return [i for i in self.indicators if i.level == level and not i.leaf]

    def summary(self) -> dict[str, Any]:
        return self.totals.as_json()

    def within(self, indicator_ids: set[int] | None) -> Coverage:
        """The coverage of part of the tree (a limited user's scope): its leaves, their
        ancestors with figures over those leaves only, their entries and documents."""
        if indicator_ids is None:
            return self
        keep: set[int] = set()
        for leaf in self.leaves:
            if leaf.id not in indicator_ids:
                continue
            node: IndicatorCoverage | None = leaf
            while node is not None and node.id not in keep:
                keep.add(node.id)
                parent = node.parent_id
                node = self._by_id.get(parent) if parent is not None else None
        nodes = [copy.copy(i) for i in self.indicators if i.id in keep]
        copies = {n.id: n for n in nodes}
        for n in nodes:
            n.children = [copies[c.id] for c in n.children if c.id in copies]
        entries = [e for e in self.entries if e.indicator_id in keep]
        links = {
            doc: pairs
            for doc, pairs in self.document_links.items()
            if any(indicator in keep for _entry, indicator in pairs)
        }
        return Coverage(
            framework_id=self.framework_id,
            framework_name=self.framework_name,
            indicators=nodes,
            entries=entries,
            totals=_roll_up(nodes),
            document_links=links,
            document_status={d: s for d, s in self.document_status.items() if d in links},
        )

    def by_department(self, today: date | None = None) -> list[dict[str, Any]]:
        """Entry and indicator figures per responsible department (entries may override);
        entries are overdue when empty past their due date, as of ``today`` (default: today)."""
        rows: dict[str, dict[str, Any]] = {}

        def row(name: str) -> dict[str, Any]:
            return rows.setdefault(
                name,
                {
                    "department": name,
                    "indicators": 0,
                    "indicators_complete": 0,
                    "entries": 0,
                    "entries_filled": 0,
                    "entries_missing": 0,
                    "entries_overdue": 0,
                },
            )

        today = today or date.today()
        for leaf in self.leaves:
            if not leaf.applicable:
                continue
            r = row(leaf.department)
            r["indicators"] += 1
            r["indicators_complete"] += leaf.state == STATE_COMPLETE
            for e in leaf.entries:
                r = row(e.department or leaf.department)
                r["entries"] += 1
                r["entries_filled"] += e.state == ENTRY_FILLED
                r["entries_missing"] += e.empty
                r["entries_overdue"] += e.overdue(today)
        out = sorted(rows.values(), key=lambda r: (r["department"] == "", r["department"]))
        for r in out:
            r["entries_filled_ratio"] = (
                round(r["entries_filled"] / r["entries"], 4) if r["entries"] else None
            )
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "framework": {"id": self.framework_id, "name": self.framework_name},
            "summary": self.summary(),
            "levels": {
                "1": [i.as_json() for i in self.level(1)],
                "2": [i.as_json() for i in self.level(2)],
            },
            "indicators": [i.as_json() for i in self.leaves],
            "entries": [e.as_json() for e in self.entries],
            "departments": self.by_department(),
        }


def compute_coverage(session: Session, framework_id: int) -> Coverage:
    """Coverage of one framework (see the module docstring for the rules)."""
    framework_name = session.scalar(select(Framework.name).where(Framework.id == framework_id))
    if framework_name is None:
        raise LookupError(f"指标体系 {framework_id} 不存在")

    nodes: list[IndicatorCoverage] = [
        IndicatorCoverage(
            id=r.id,
            code=r.code,
            variant=r.variant,
            name=r.name,
            level=r.level,
            parent_id=r.parent_id,
            position=r.position,
            max_points=r.max_points,
            self_score=r.self_score,
            department=r.department or "",
            owner=r.owner or "",
            owner_user_id=r.owner_user_id,
            due_date=r.due_date,
        )
        for r in session.execute(
            select(
                Indicator.id,
                Indicator.code,
                Indicator.variant,
                Indicator.name,
                Indicator.level,
                Indicator.parent_id,
                Indicator.position,
                Indicator.max_points,
                Indicator.self_score,
                Indicator.department,
                Indicator.owner,
                Indicator.owner_user_id,
                Indicator.due_date,
            )
            .where(Indicator.framework_id == framework_id)
            .order_by(Indicator.position, Indicator.id)
        )
    ]
    by_id = {n.id: n for n in nodes}
    for n in nodes:
        parent = by_id.get(n.parent_id) if n.parent_id is not None else None
        if parent is not None:
            parent.children.append(n)
            parent.leaf = False
    rows_per_code: dict[str, int] = defaultdict(int)
    for n in nodes:
        if n.leaf:
            rows_per_code[n.code] += 1
    for n in nodes:
        n.alternative = n.leaf and (n.variant > 0 or rows_per_code[n.code] > 1)

    entries: list[EntryCoverage] = []
    entry_by_id: dict[int, EntryCoverage] = {}
    for r in session.execute(
        select(
            CatalogEntry.id,
            CatalogEntry.code,
            CatalogEntry.title,
            CatalogEntry.indicator_id,
            CatalogEntry.position,
            CatalogEntry.department,
            CatalogEntry.owner,
            CatalogEntry.owner_user_id,
            CatalogEntry.due_date,
        )
        .where(CatalogEntry.framework_id == framework_id)
        .order_by(CatalogEntry.position, CatalogEntry.id)
    ):
        indicator = by_id.get(r.indicator_id)
        if indicator is None:  # pragma: no cover - entries always hang on an indicator
            continue
        e = EntryCoverage(
            id=r.id,
            code=r.code,
            title=r.title or "",
            indicator_id=r.indicator_id,
            position=r.position,
            department=r.department or "",
            owner=r.owner or "",
            owner_user_id=r.owner_user_id,
            own_due_date=r.due_date,
            due_date=r.due_date or indicator.due_date,
        )
        entries.append(e)
        entry_by_id[e.id] = e
        indicator.entries.append(e)

    document_links: dict[int, list[tuple[int | None, int]]] = defaultdict(list)
    document_status: dict[int, tuple[str, str]] = {}

    entry_links = session.execute(
        select(
            DocumentLink.document_id,
            CatalogEntry.id,
            CatalogEntry.indicator_id,
            Document.status,
            Document.review_status,
        )
        .join(CatalogEntry, CatalogEntry.id == DocumentLink.entry_id)
        .join(Document, Document.id == DocumentLink.document_id)
        .where(CatalogEntry.framework_id == framework_id, Document.deleted.is_(False))
        .order_by(DocumentLink.document_id)
    )
    for doc_id, entry_id, indicator_id, status, review in entry_links:
        entry = entry_by_id.get(entry_id)
        if entry is None:  # pragma: no cover
            continue
        document_links[doc_id].append((entry_id, indicator_id))
        document_status[doc_id] = (status, review)
        kind = document_class(status)
        getattr(entry, kind).append(doc_id)
        if kind == "usable" and review == ReviewStatus.APPROVED:
            entry.approved = True

    direct_links = session.execute(
        select(
            DocumentLink.document_id,
            Indicator.id,
            Document.status,
            Document.review_status,
        )
        .join(Indicator, Indicator.id == DocumentLink.indicator_id)
        .join(Document, Document.id == DocumentLink.document_id)
        .where(
            Indicator.framework_id == framework_id,
            DocumentLink.entry_id.is_(None),
            Document.deleted.is_(False),
        )
        .order_by(DocumentLink.document_id)
    )
    for doc_id, indicator_id, status, review in direct_links:
        node = by_id.get(indicator_id)
        if node is None:  # pragma: no cover
            continue
        document_links[doc_id].append((None, indicator_id))
        document_status[doc_id] = (status, review)
        kind = document_class(status)
        getattr(node, f"direct_{kind}").append(doc_id)
        if kind == "usable" and review == ReviewStatus.APPROVED:
            node.direct_approved = True

    for n in nodes:
        for e in n.entries:
            e.applicable = n.applicable

    return Coverage(
        framework_id=framework_id,
        framework_name=framework_name,
        indicators=nodes,
        entries=entries,
        totals=_roll_up(nodes),
        document_links=dict(document_links),
        document_status=document_status,
    )


def _roll_up(nodes: list[IndicatorCoverage]) -> Totals:
    """Set every inner node's totals from the leaves below it; the totals of all leaves."""
    by_id = {n.id: n for n in nodes}
    totals = Totals()
    for n in nodes:
        if not n.leaf:
            n.totals = Totals()
    for n in nodes:
        if not n.leaf:
            continue
        totals.add(n)
        parent = by_id.get(n.parent_id) if n.parent_id is not None else None
        seen: set[int] = set()
        while parent is not None and parent.id not in seen:
            seen.add(parent.id)
            assert parent.totals is not None
            parent.totals.add(n)
            parent = by_id.get(parent.parent_id) if parent.parent_id is not None else None
    return totals
