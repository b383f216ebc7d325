"""Audit findings (问题清单): what an auditor must see — missing evidence, claimed scores with
no evidence, catalog numbering mistakes, files linked to nothing, the same file or text used
for two indicators (成果不重复统计), unreadable and OCR-only files, overdue work.

Each finding is ``{"kind", "severity", "codes", "documents", "detail", "link"}``:

=========================== ======== ==========================================================
kind                        severity raised for
=========================== ======== ==========================================================
score_without_evidence      high     an applicable leaf claiming a self-score > 0 with no usable
                                     document (instead of indicator_without_evidence)
indicator_without_evidence  medium   an applicable leaf with no usable document (self-score 0
                                     or none)
missing_entry               medium   each entry that is missing or has only unreadable files
overdue_entry               high     per indicator: empty entries (or an empty indicator without
                                     a catalog) whose due date (the entry's, else the
                                     indicator's) is before today
duplicate_document          high     the same bytes (current version's SHA-256), or near-identical
                                     text, used under two or more indicators
unreadable_document         medium   failed, empty, encrypted or unsupported files
damaged_document            high     a file whose stored bytes no longer match the SHA-256 taken
                                     at upload (found by a download or ``evidence verify``)
unmatched_document          medium   a file of the framework linked to no entry or indicator
duplicate_entry_code        medium   an entry code listed twice in the table (import anomaly)
misnumbered_entry           low      an entry numbered for another indicator (import anomaly)
ocr_only                    low      a usable file whose text all comes from OCR
=========================== ======== ==========================================================

Not-applicable alternatives (公办/民办 rows with no self-score) raise no missing/without
evidence/overdue findings. Entries waiting for a file to be processed raise none either.

Near-identical text: MinHash (one-permutation hashing with rotation densification, 128
bins) over character 5-gram shingles of the text with spaces and punctuation removed; LSH
banding (32 bands of 4 rows) picks candidate pairs, whose exact Jaccard similarity is then
computed from the texts. Pairs with Jaccard >= ``NEAR_DUPLICATE_THRESHOLD`` (0.8) are reported;
at 0.8 a pair becomes a candidate with probability > 0.999. Character shingles need no
tokenizer and survive OCR noise in single characters. Texts under 30 characters are skipped
(cover pages and stamps would match everything).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from evidence_app.coverage.finding import (
    KIND_LABELS as CORE_KIND_LABELS,
)
from evidence_app.coverage.finding import (
    KINDS as CORE_KINDS,
)
from evidence_app.coverage.finding import (
    NEAR_DUPLICATE_THRESHOLD,
    SEVERITIES,
    SEVERITY_LABELS,
    Finding,
)
from evidence_app.coverage.findings import _anomalies, _documents, _duplicates, _evidence
from evidence_app.coverage.findings._shared import FindingContext, _framework_documents
from evidence_app.coverage.operations import Coverage, compute_coverage
from evidence_app.documents.status import STATUS_LABELS
from evidence_app.kpi.operations import KPI_KIND_LABELS, kpi_finding_objects

__all__ = [
    "FINDERS",
    "KINDS",
    "KIND_LABELS",
    "NEAR_DUPLICATE_THRESHOLD",
    "SEVERITIES",
    "SEVERITY_LABELS",
    "STATUS_LABELS",
    "Finding",
    "FindingContext",
    "compute_findings",
    "findings_json",
]

KINDS = (*CORE_KINDS, *KPI_KIND_LABELS)
KIND_LABELS = {**CORE_KIND_LABELS, **KPI_KIND_LABELS}


def _kpi_findings(ctx: FindingContext) -> Iterable[Finding]:
    return kpi_finding_objects(ctx.session, ctx.framework_id)


#: Every kind of finding comes from one finder here; a new kind is a module and a line.
FINDERS: list[Callable[[FindingContext], Iterable[Finding]]] = [
    _evidence.find,
    _duplicates.find,
    _documents.find,
    _anomalies.find,
    _kpi_findings,
]


def compute_findings(
    session: Session,
    framework_id: int,
    *,
    coverage: Coverage | None = None,
    today: date | None = None,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> list[Finding]:
    """Every finding for one framework, most severe first, then by kind and table order."""
    coverage = coverage or compute_coverage(session, framework_id)
    ctx = FindingContext(
        session=session,
        framework_id=framework_id,
        coverage=coverage,
        today=today or date.today(),
        threshold=threshold,
        docs=_framework_documents(session, framework_id, coverage),
    )
    found: list[Finding] = [f for finder in FINDERS for f in finder(ctx)]
    severity_rank = {s: i for i, s in enumerate(SEVERITIES)}
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    found.sort(key=lambda f: (severity_rank[f.severity], kind_rank[f.kind], f.order))
    return found


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [f.as_json() for f in findings]
