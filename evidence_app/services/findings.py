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

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Row, and_, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from evidence_app.frameworks import code_key
from evidence_app.services.coverage import (
    ENTRY_UNUSABLE,
    Coverage,
    compute_coverage,
    document_class,
)
from evidence_app.services.kpi import KPI_KIND_LABELS, kpi_finding_objects
from storage import (
    Document,
    DocumentPage,
    DocumentVersion,
    ImportAnomaly,
    TextSignature,
)

SEVERITIES = ("high", "medium", "low")
KINDS = (
    "score_without_evidence",
    "indicator_without_evidence",
    "missing_entry",
    "overdue_entry",
    "duplicate_document",
    "unreadable_document",
    "unmatched_document",
    "duplicate_entry_code",
    "misnumbered_entry",
    "ocr_only",
    *KPI_KIND_LABELS,
)
KIND_LABELS = {
    "score_without_evidence": "有自评分无佐证",
    "indicator_without_evidence": "指标无佐证",
    "missing_entry": "条目缺失",
    "overdue_entry": "逾期未交",
    "duplicate_document": "重复使用",
    "unreadable_document": "文件无法读取",
    "unmatched_document": "未匹配文件",
    "duplicate_entry_code": "条目编号重复",
    "misnumbered_entry": "条目编号错误",
    "ocr_only": "仅 OCR 文字",
    **KPI_KIND_LABELS,
}
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}
STATUS_LABELS = {
    "pending": "待处理",
    "processing": "处理中",
    "indexed": "已索引",
    "failed": "解析失败",
    "empty": "无文字内容",
    "encrypted": "已加密",
    "unsupported": "不支持的格式",
}

log = logging.getLogger(__name__)

NEAR_DUPLICATE_THRESHOLD = 0.8


@dataclass
class Finding:
    kind: str
    severity: str
    codes: list[str]
    documents: list[int]
    detail: str
    link: str
    extra: dict[str, Any] = field(default_factory=dict)
    order: tuple[Any, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "codes": self.codes,
            "documents": self.documents,
            "detail": self.detail,
            "link": self.link,
            **self.extra,
        }


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
    today = today or date.today()
    docs = _framework_documents(session, framework_id, coverage)
    found: list[Finding] = []
    found += _evidence_findings(coverage, today)
    found += _duplicate_findings(session, coverage, docs, threshold)
    found += _document_findings(session, framework_id, coverage, docs)
    found += _anomaly_findings(session, framework_id, coverage)
    found += kpi_finding_objects(session, framework_id)
    severity_rank = {s: i for i, s in enumerate(SEVERITIES)}
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    found.sort(key=lambda f: (severity_rank[f.severity], kind_rank[f.kind], f.order))
    return found


def findings_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [f.as_json() for f in findings]


# -- evidence present or not ---------------------------------------------------------------


def _evidence_findings(coverage: Coverage, today: date) -> Iterator[Finding]:
    for leaf in coverage.leaves:
        if not leaf.applicable:
            continue
        label = f"{leaf.code} {leaf.name}"
        link = f"/indicators/{leaf.id}"
        order = (leaf.position,)
        if not leaf.usable_ids and not leaf.pending_ids:
            what = (
                f"佐证材料目录 {len(leaf.entries)} 条均无可用文件" if leaf.entries else "无佐证文件"
            )
            unreadable = sorted(leaf.document_ids)
            if unreadable:
                what += f"（{len(unreadable)} 个文件无法读取）"
            if (leaf.self_score or 0) > 0:
                yield Finding(
                    "score_without_evidence",
                    "high",
                    [leaf.code],
                    unreadable,
                    f"{label}：自评 {leaf.self_score:g} 分，但{what}",
                    link,
                    order=order,
                )
            else:
                yield Finding(
                    "indicator_without_evidence",
                    "medium",
                    [leaf.code],
                    unreadable,
                    f"{label}：{what}",
                    link,
                    order=order,
                )
        for e in leaf.entries:
            if not e.empty:
                continue
            if e.state == ENTRY_UNUSABLE:
                detail = f"{e.code} {e.title}：仅有无法读取的文件"
            else:
                detail = f"{e.code} {e.title}：未提供文件"
            yield Finding(
                "missing_entry",
                "medium",
                [e.code],
                sorted(e.unusable),
                detail,
                link,
                order=(leaf.position, e.position),
            )
        overdue = leaf.overdue_entries(today)
        if overdue:
            due = min(e.due_date for e in overdue if e.due_date)
            codes = [e.code for e in overdue]
            yield Finding(
                "overdue_entry",
                "high",
                codes,
                [],
                f"{label}：截止日期 {due.isoformat()} 已过（逾期 {(today - due).days} 天），"
                f"仍缺 {len(codes)} 条：{'、'.join(codes)}",
                link,
                order=order,
            )
        elif not leaf.entries and leaf.overdue(today) and leaf.due_date:
            yield Finding(
                "overdue_entry",
                "high",
                [leaf.code],
                [],
                f"{label}：截止日期 {leaf.due_date.isoformat()} 已过"
                f"（逾期 {(today - leaf.due_date).days} 天），仍无佐证文件",
                link,
                order=order,
            )


# -- documents -----------------------------------------------------------------------------


@dataclass
class _Doc:
    id: int
    title: str
    code: str
    status: str
    status_reason: str
    sha256: str = ""


def _chunks(ids: list[int], size: int = 5000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _framework_documents(
    session: Session, framework_id: int, coverage: Coverage
) -> dict[int, _Doc]:
    """The framework's documents (its own and any linked to it), not deleted, with the
    current version's SHA-256."""
    docs: dict[int, _Doc] = {}
    cols = (
        Document.id,
        Document.title,
        Document.code,
        Document.status,
        Document.status_reason,
    )
    for r in session.execute(
        select(*cols).where(Document.framework_id == framework_id, Document.deleted.is_(False))
    ):
        docs[r.id] = _Doc(r.id, r.title, r.code, r.status, r.status_reason)
    others = sorted(set(coverage.document_links) - set(docs))
    for chunk in _chunks(others):
        for r in session.execute(select(*cols).where(Document.id.in_(chunk))):
            docs[r.id] = _Doc(r.id, r.title, r.code, r.status, r.status_reason)
    newest = (
        select(DocumentVersion.document_id, func.max(DocumentVersion.number).label("number"))
        .group_by(DocumentVersion.document_id)
        .subquery()
    )
    current = select(DocumentVersion.document_id, DocumentVersion.blob_sha256).join(
        newest,
        and_(
            newest.c.document_id == DocumentVersion.document_id,
            newest.c.number == DocumentVersion.number,
        ),
    )
    rows: Iterable[Row[int, str]]
    if not others:
        rows = session.execute(
            current.join(Document, Document.id == DocumentVersion.document_id).where(
                Document.framework_id == framework_id, Document.deleted.is_(False)
            )
        )
    else:
        rows = (
            r
            for chunk in _chunks(sorted(docs))
            for r in session.execute(current.where(DocumentVersion.document_id.in_(chunk)))
        )
    for doc_id, sha in rows:
        if doc_id in docs:
            docs[doc_id].sha256 = sha
    return docs


def _link_codes(coverage: Coverage, doc_ids: Iterable[int]) -> tuple[list[str], set[int]]:
    """The entry (or, for direct links, indicator) codes of documents, and their indicators."""
    codes: set[str] = set()
    indicators: set[int] = set()
    for doc_id in doc_ids:
        for entry_id, indicator_id in coverage.document_links.get(doc_id, ()):
            indicators.add(indicator_id)
            if entry_id is not None:
                codes.add(coverage.entry(entry_id).code)
            else:
                codes.add(coverage.indicator(indicator_id).code)
    return sorted(codes, key=code_key), indicators


def _document_findings(
    session: Session, framework_id: int, coverage: Coverage, docs: dict[int, _Doc]
) -> Iterator[Finding]:
    for doc in sorted(docs.values(), key=lambda d: d.id):
        codes, _ = _link_codes(coverage, [doc.id])
        if document_class(doc.status) == "unusable":
            reason = doc.status_reason or STATUS_LABELS.get(doc.status, doc.status)
            yield Finding(
                "unreadable_document",
                "medium",
                codes or ([doc.code] if doc.code else []),
                [doc.id],
                f"文件 #{doc.id}「{doc.title}」{STATUS_LABELS.get(doc.status, doc.status)}：{reason}",
                f"/documents/{doc.id}",
                extra={"status": doc.status},
                order=(doc.id,),
            )
        if doc.id not in coverage.document_links:
            where = f"编号 {doc.code} 在指标体系中不存在" if doc.code else "文件名中没有佐证编号"
            yield Finding(
                "unmatched_document",
                "medium",
                [doc.code] if doc.code else [],
                [doc.id],
                f"文件 #{doc.id}「{doc.title}」未关联任何条目或指标：{where}",
                f"/documents/{doc.id}",
                order=(doc.id,),
            )

    usable = [d.id for d in docs.values() if document_class(d.status) == "usable"]
    for chunk in _chunks(sorted(usable)):
        rows = session.execute(
            select(
                DocumentPage.document_id,
                func.sum(_case_count(DocumentPage.source == "ocr")),
                func.sum(_case_count(and_(DocumentPage.source != "ocr", DocumentPage.text != ""))),
            )
            .where(DocumentPage.document_id.in_(chunk))
            .group_by(DocumentPage.document_id)
            .order_by(DocumentPage.document_id)
        )
        for doc_id, ocr_pages, text_pages in rows:
            if ocr_pages and not text_pages:
                doc = docs[doc_id]
                codes, _ = _link_codes(coverage, [doc_id])
                yield Finding(
                    "ocr_only",
                    "low",
                    codes or ([doc.code] if doc.code else []),
                    [doc_id],
                    f"文件 #{doc_id}「{doc.title}」的文字全部来自 OCR 识别（{int(ocr_pages)} 页），"
                    "请人工核对",
                    f"/documents/{doc_id}",
                    order=(doc_id,),
                )


def _case_count(condition: Any) -> Any:
    from sqlalchemy import case

    return case((condition, 1), else_=0)


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


# -- the same file or text under two indicators ----------------------------------------------


def _duplicate_findings(
    session: Session, coverage: Coverage, docs: dict[int, _Doc], threshold: float
) -> Iterator[Finding]:
    linked = [d for d in docs.values() if d.id in coverage.document_links]
    by_sha: dict[str, list[int]] = defaultdict(list)
    for d in linked:
        if d.sha256:
            by_sha[d.sha256].append(d.id)
    same_bytes: set[frozenset[int]] = set()
    for sha, ids in by_sha.items():
        ids.sort()
        codes, indicators = _link_codes(coverage, ids)
        if len(indicators) < 2:
            continue
        same_bytes.add(frozenset(ids))
        files = "、".join(f"#{i}" for i in ids)
        yield Finding(
            "duplicate_document",
            "high",
            codes,
            ids,
            f"同一文件（SHA-256 {sha[:12]}…）用于 {len(indicators)} 个指标：{'、'.join(codes)}"
            f"（文件 {files}）",
            f"/documents/{ids[0]}",
            extra={"similarity": 1.0, "match": "bytes"},
            order=(ids[0], 0),
        )

    # numpy loads here, not with the web app (a worker reading PDFs never needs it)
    from evidence_app.services.minhash import (
        jaccard,
        lsh_candidates,
        shingle_hashes,
        signature_agreement,
    )

    usable = [d.id for d in linked if document_class(d.status) == "usable"]
    signatures = _signatures(session, usable)
    indicators_of = {
        doc_id: {ind for _, ind in coverage.document_links[doc_id]} for doc_id in signatures
    }
    sha_of = {d.id: d.sha256 for d in linked}
    candidates = [
        (a, b)
        for a, b in lsh_candidates(signatures)
        if len(indicators_of[a] | indicators_of[b]) >= 2
        and not (sha_of[a] and sha_of[a] == sha_of[b])
    ]
    if not candidates:
        return
    # the estimate prunes pairs far below the threshold; survivors get the exact Jaccard
    candidates = [
        (a, b)
        for a, b in candidates
        if signature_agreement(signatures[a], signatures[b]) >= threshold - 0.2
    ]
    need = sorted({i for pair in candidates for i in pair})
    exact = {doc_id: shingle_hashes(text) for doc_id, text in _document_texts(session, need)}
    for a, b in sorted(candidates):
        similarity = jaccard(exact[a], exact[b])
        if similarity < threshold:
            continue
        codes, indicators = _link_codes(coverage, [a, b])
        shown = f"{similarity:.2f}"
        yield Finding(
            "duplicate_document",
            "high",
            codes,
            [a, b],
            f"文件 #{a} 与 #{b} 内容几乎相同（相似度 {shown}），用于不同指标：{'、'.join(codes)}",
            f"/documents/{a}",
            extra={"similarity": round(similarity, 4), "match": "text"},
            order=(a, b),
        )


def _signatures(session: Session, doc_ids: list[int]) -> dict[int, Any]:
    """The MinHash signature of each document with enough text to compare.

    Signatures are kept in ``text_signatures`` with the pages they were computed from: only
    documents whose pages changed since (or never had one) are read and hashed again, so the
    first audit after an upload costs the new files, not the whole library.
    """
    import numpy as np

    from evidence_app.services.minhash import minhash_signature, shingle_hashes

    current: dict[int, int] = {}
    stored: dict[int, tuple[int, bytes]] = {}
    for chunk in _chunks(sorted(doc_ids)):
        current.update(
            (doc_id, key)
            for doc_id, key in session.execute(
                select(DocumentPage.document_id, func.max(DocumentPage.id))
                .where(DocumentPage.document_id.in_(chunk))
                .group_by(DocumentPage.document_id)
            )
        )
        stored.update(
            (doc_id, (key, sig))
            for doc_id, key, sig in session.execute(
                select(
                    TextSignature.document_id, TextSignature.pages_key, TextSignature.signature
                ).where(TextSignature.document_id.in_(chunk))
            )
        )
    stale = [i for i, key in current.items() if stored.get(i, (None,))[0] != key]
    fresh: dict[int, bytes] = {}
    for doc_id, text in _document_texts(session, stale):
        shingles = shingle_hashes(text)
        fresh[doc_id] = minhash_signature(shingles).tobytes() if len(shingles) else b""
    if fresh:
        _store_signatures(session, {i: (current[i], sig) for i, sig in fresh.items()})
    out: dict[int, Any] = {}
    for doc_id in current:
        sig = fresh[doc_id] if doc_id in fresh else stored[doc_id][1]
        if sig:
            out[doc_id] = np.frombuffer(sig, dtype=np.uint64)
    return out


def _store_signatures(session: Session, rows: dict[int, tuple[int, bytes]]) -> None:
    """Upsert signatures in a transaction of their own (the audit itself only reads); two
    audits computing the same signature at once both succeed."""
    engine = session.get_bind().engine
    stmt: Insert
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        pg_insert = postgresql_insert(TextSignature)
        stmt = pg_insert.on_conflict_do_update(
            index_elements=[TextSignature.document_id],
            set_={
                "pages_key": pg_insert.excluded.pages_key,
                "signature": pg_insert.excluded.signature,
            },
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite_insert = sqlite_insert(TextSignature)
        stmt = lite_insert.on_conflict_do_update(
            index_elements=[TextSignature.document_id],
            set_={
                "pages_key": lite_insert.excluded.pages_key,
                "signature": lite_insert.excluded.signature,
            },
        )
    values = [
        {"document_id": i, "pages_key": key, "signature": sig} for i, (key, sig) in rows.items()
    ]
    try:
        with engine.begin() as conn:
            conn.execute(stmt, values)
    except SQLAlchemyError:  # a document deleted meanwhile, a read-only database: recompute later
        log.warning("could not keep %d text signatures", len(values), exc_info=True)


def _document_texts(session: Session, doc_ids: list[int]) -> Iterator[tuple[int, str]]:
    """(id, text of all pages) per document, streamed in id order."""
    for chunk in _chunks(sorted(doc_ids), 500):
        current: int | None = None
        parts: list[str] = []
        for doc_id, text in session.execute(
            select(DocumentPage.document_id, DocumentPage.text)
            .where(DocumentPage.document_id.in_(chunk))
            .order_by(DocumentPage.document_id, DocumentPage.number)
        ):
            if doc_id != current:
                if current is not None:
                    yield current, "\n".join(parts)
                current, parts = doc_id, []
            parts.append(text or "")
        if current is not None:
            yield current, "\n".join(parts)
