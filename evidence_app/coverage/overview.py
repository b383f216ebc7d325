"""Progress figures for the home page and the indicator tree (entries filled of total)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from evidence_app.coverage.operations import IndicatorCoverage, Totals, compute_coverage
from storage import CatalogEntry, Document, DocumentLink, Framework, Indicator


@dataclass
class Node:
    """One indicator of the tree with its figures (a view over the coverage computation)."""

    indicator: IndicatorCoverage
    children: list[Node] = field(default_factory=list)

    def _totals(self) -> Totals:
        """An inner indicator's figures over the leaves below (set for every inner node)."""
        totals = self.indicator.totals
        assert totals is not None
        return totals

    @property
    def entries(self) -> int:
        """Evidence slots below: each catalog entry, and each applicable leaf without a
        catalog counts as one (so a leaf that claims points with nothing behind it shows)."""
        cov = self.indicator
        if cov.leaf:
            return len(cov.entries) if cov.entries else int(cov.applicable)
        return sum(child.entries for child in self.children)

    @property
    def filled(self) -> int:
        cov = self.indicator
        if cov.leaf:
            if cov.entries:
                return cov.entries_filled
            return int(cov.applicable and bool(cov.usable_ids))
        return sum(child.filled for child in self.children)

    @property
    def documents(self) -> int:
        cov = self.indicator
        return len(cov.usable_ids) if cov.leaf else self._totals().documents_usable

    @property
    def state(self) -> str:
        """complete / partial / none / not_applicable."""
        cov = self.indicator
        if cov.leaf:
            return cov.state
        t = self._totals()
        applicable = t.indicators - t.indicators_not_applicable
        if not applicable:
            return "not_applicable"
        if t.indicators_complete == applicable:
            return "complete"
        return "partial" if t.indicators_complete or t.indicators_partial else "none"


def framework_overview(session: Session, framework: Framework) -> dict[str, Any]:
    """Entries filled per indicator, rolled up the tree; the home page's progress bars."""
    coverage = compute_coverage(session, framework.id)
    nodes = {cov.id: Node(cov) for cov in coverage.indicators}
    roots: list[Node] = []
    for cov in coverage.indicators:
        if cov.parent_id in nodes:
            nodes[cov.parent_id].children.append(nodes[cov.id])
        else:
            roots.append(nodes[cov.id])
    entries = sum(root.entries for root in roots)
    filled = sum(root.filled for root in roots)
    return {
        "framework": framework,
        "entries": entries,
        "filled": filled,
        "percent": round(100 * filled / entries) if entries else 0,
        "documents": coverage.totals.documents_usable,
        "roots": roots,
    }


def indicator_documents(
    session: Session, indicator: Indicator, readable: set[int] | None = None
) -> tuple[list[tuple[CatalogEntry, list[Document]]], list[Document]]:
    """The indicator's entries with their documents, and documents linked to it directly;
    only those in ``readable`` (the user's scope) when given."""
    visible = Document.id.in_(readable) if readable is not None else Document.id.is_not(None)
    links = session.scalars(
        select(DocumentLink)
        .join(Document, Document.id == DocumentLink.document_id)
        .where(
            Document.deleted.is_(False),
            visible,
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
