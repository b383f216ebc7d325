"""Files that cannot count: unreadable, damaged in the store, linked to nothing, text only
from OCR."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from evidence_app.coverage.finding import (
    Finding,
)
from evidence_app.coverage.findings._shared import FindingContext, _chunks, _Doc, _link_codes
from evidence_app.coverage.operations import (
    Coverage,
    document_class,
)
from evidence_app.documents.status import STATUS_LABELS
from storage import (
    Blob,
    DocumentPage,
)


def find(ctx: FindingContext) -> Iterable[Finding]:
    return _document_findings(ctx.session, ctx.framework_id, ctx.coverage, ctx.docs)


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

    yield from _damaged(session, coverage, docs)
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


def _damaged(session: Session, coverage: Coverage, docs: dict[int, _Doc]) -> Iterator[Finding]:
    """Documents whose current version's bytes were found not to match their hash."""
    by_sha: dict[str, list[_Doc]] = {}
    for doc in docs.values():
        if doc.sha256:
            by_sha.setdefault(doc.sha256, []).append(doc)
    damaged = session.execute(
        select(Blob.sha256, Blob.damaged_at).where(Blob.damaged_at.is_not(None))
    ).all()
    found = [(doc, when) for sha, when in damaged for doc in by_sha.get(sha, [])]
    for doc, when in sorted(found, key=lambda item: item[0].id):
        codes, _ = _link_codes(coverage, [doc.id])
        yield Finding(
            "damaged_document",
            "high",
            codes or ([doc.code] if doc.code else []),
            [doc.id],
            f"文件 #{doc.id}「{doc.title}」的存储内容与上传时的校验值不符"
            f"（{when:%Y-%m-%d %H:%M} UTC 发现），已停止提供下载；"
            "请从备份恢复（evidence restore）或重新上传",
            f"/documents/{doc.id}",
            order=(doc.id,),
        )


def _case_count(condition: Any) -> Any:
    return case((condition, 1), else_=0)
