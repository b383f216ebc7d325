"""Progress figures for the home page and the indicator tree (entries filled of total)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage import CatalogEntry, Document, DocumentLink, Framework, Indicator
from storage._models import STATUS_INDEXED


@dataclass
class Node:
    indicator: Indicator
    entries: int = 0
    filled: int = 0
    documents: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return (
            round(100 * self.filled / self.entries)
            if self.entries
            else (100 if self.documents else 0)
        )

    @property
    def state(self) -> str:
        """complete / partial / none / na (an alternative row with no self-score)."""
        ind = self.indicator
        if ind.level == 3 and ind.variant > 0 and ind.self_score is None and not self.documents:
            return "na"
        if self.entries:
            if self.filled == self.entries:
                return "complete"
            return "partial" if self.filled or self.documents else "none"
        return "complete" if self.documents else "none"


def _usable_links(session: Session, framework_id: int) -> list[tuple[int | None, int | None, int]]:
    rows = session.execute(
        select(DocumentLink.entry_id, DocumentLink.indicator_id, DocumentLink.document_id)
        .join(Document, Document.id == DocumentLink.document_id)
        .where(
            Document.framework_id == framework_id,
            Document.deleted.is_(False),
            Document.status == STATUS_INDEXED,
        )
    ).all()
    return [tuple(r) for r in rows]


def framework_overview(session: Session, framework: Framework) -> dict[str, Any]:
    """Entries filled per indicator, rolled up the tree; the home page's progress bars."""
    indicators = list(
        session.scalars(
            select(Indicator)
            .where(Indicator.framework_id == framework.id)
            .order_by(Indicator.position)
        )
    )
    entries = list(
        session.execute(
            select(CatalogEntry.id, CatalogEntry.indicator_id).where(
                CatalogEntry.framework_id == framework.id
            )
        )
    )
    entry_indicator = {eid: iid for eid, iid in entries}
    filled_entries: set[int] = set()
    docs_by_indicator: dict[int, set[int]] = {}
    for entry_id, indicator_id, doc_id in _usable_links(session, framework.id):
        if entry_id is not None:
            filled_entries.add(entry_id)
            indicator_id = entry_indicator.get(entry_id)
        if indicator_id is not None:
            docs_by_indicator.setdefault(indicator_id, set()).add(doc_id)
    nodes = {i.id: Node(i) for i in indicators}
    for eid, iid in entries:
        nodes[iid].entries += 1
        if eid in filled_entries:
            nodes[iid].filled += 1
    for iid, docs in docs_by_indicator.items():
        if iid in nodes:
            nodes[iid].documents = len(docs)
    roots: list[Node] = []
    for i in indicators:
        node = nodes[i.id]
        if i.parent_id in nodes:
            nodes[i.parent_id].children.append(node)
        else:
            roots.append(node)

    def roll_up(node: Node) -> None:
        for child in node.children:
            roll_up(child)
            node.entries += child.entries
            node.filled += child.filled
            node.documents += child.documents

    for root in roots:
        roll_up(root)
    total = sum(r.entries for r in roots)
    filled = sum(r.filled for r in roots)
    return {
        "framework": framework,
        "entries": total,
        "filled": filled,
        "percent": round(100 * filled / total) if total else 0,
        "documents": len({d for docs in docs_by_indicator.values() for d in docs}),
        "roots": roots,
    }


def indicator_documents(
    session: Session, indicator: Indicator
) -> tuple[list[tuple[CatalogEntry, list[Document]]], list[Document]]:
    """The indicator's entries with their documents, and documents linked to it directly."""
    links = session.scalars(
        select(DocumentLink)
        .join(Document, Document.id == DocumentLink.document_id)
        .where(
            Document.deleted.is_(False),
            DocumentLink.entry_id.in_([e.id for e in indicator.entries])
            | (DocumentLink.indicator_id == indicator.id),
        )
        .options(selectinload(DocumentLink.document).selectinload(Document.versions))
        .order_by(Document.id)
    ).all()
    by_entry: dict[int, list[Document]] = {}
    direct: list[Document] = []
    for link in links:
        if link.entry_id is not None:
            by_entry.setdefault(link.entry_id, []).append(link.document)
        else:
            direct.append(link.document)
    return [(e, by_entry.get(e.id, [])) for e in indicator.entries], direct
