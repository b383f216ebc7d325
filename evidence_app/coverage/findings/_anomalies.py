"""Numbering mistakes of the imported table: entries numbered for another indicator,
the same entry code twice."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.coverage.finding import (
    Finding,
)
from evidence_app.coverage.findings._shared import FindingContext
from evidence_app.coverage.operations import (
    Coverage,
)
from storage import (
    ImportAnomaly,
)


def find(ctx: FindingContext) -> Iterable[Finding]:
    return _anomaly_findings(ctx.session, ctx.framework_id, ctx.coverage)


def _anomaly_findings(session: Session, framework_id: int, coverage: Coverage) -> Iterator[Finding]:
    leaf_by_code: dict[str, int] = {}
    for leaf in coverage.leaves:
        leaf_by_code.setdefault(leaf.code, leaf.id)
    kinds = {"misnumbered_entry": "low", "duplicate_entry_code": "medium"}
    for seq, a in enumerate(
        session.scalars(
            select(ImportAnomaly)
            .where(
                ImportAnomaly.framework_id == framework_id,
                ImportAnomaly.kind.in_(kinds),
            )
            .order_by(ImportAnomaly.id)
        )
    ):
        indicator_id = leaf_by_code.get(a.indicator_code)
        yield Finding(
            a.kind,
            kinds[a.kind],
            [a.code],
            [],
            a.detail,
            f"/indicators/{indicator_id}" if indicator_id else f"/frameworks/{framework_id}",
            extra={"indicator": a.indicator_code},
            order=(seq,),
        )
