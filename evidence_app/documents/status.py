"""The words for a document's processing and review states: one table for every page,
export and finding."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage import Document, DocumentStatus, ReviewStatus

STATUS_LABELS: dict[str, str] = {
    DocumentStatus.PENDING: "待处理",
    DocumentStatus.PROCESSING: "处理中",
    DocumentStatus.INDEXED: "已索引",
    DocumentStatus.FAILED: "解析失败",
    DocumentStatus.EMPTY: "无文字内容",
    DocumentStatus.ENCRYPTED: "已加密",
    DocumentStatus.UNSUPPORTED: "不支持的格式",
}
REVIEW_LABELS: dict[str, str] = {
    ReviewStatus.PENDING: "待审",
    ReviewStatus.APPROVED: "通过",
    ReviewStatus.NEEDS_MORE: "需补充",
}

#: What an uploader is told about a stored file, from upload to search: 已接收 (stored,
#: waiting), 处理中 (being read), 可检索 (in the index), 无法读取 (with the reason).
UPLOAD_STATE_LABELS: dict[str, str] = {
    "received": "已接收",
    "processing": "处理中",
    "searchable": "可检索",
    "unreadable": "无法读取",
}
_UPLOAD_STATES: dict[str, str] = {
    DocumentStatus.PENDING: "received",
    DocumentStatus.PROCESSING: "processing",
    DocumentStatus.INDEXED: "searchable",
}
#: the most ids one status request may ask about (the upload page asks per file batch)
MAX_STATUS_IDS = 500


def upload_state(status: str, reason: str = "") -> dict[str, str | bool]:
    """A document's state for an uploader: key, label, reason (Chinese), and whether it is
    final (nothing more will happen without a retry)."""
    state = _UPLOAD_STATES.get(status, "unreadable")
    if state == "unreadable":
        reason = reason or STATUS_LABELS.get(status, "文件无法读取")
    else:
        reason = ""
    return {
        "state": state,
        "label": UPLOAD_STATE_LABELS[state],
        "reason": reason,
        "done": state in ("searchable", "unreadable"),
    }


def document_states(
    session: Session, ids: Iterable[int], readable: set[int] | None
) -> list[dict[str, Any]]:
    """The upload state of each document in ``ids`` that exists, is not deleted and is in
    ``readable`` (None: all); the others are left out, names and all."""
    wanted = sorted(set(ids))
    if readable is not None:
        wanted = [i for i in wanted if i in readable]
    if not wanted:
        return []
    rows = session.execute(
        select(Document.id, Document.title, Document.status, Document.status_reason).where(
            Document.id.in_(wanted), Document.deleted.is_(False)
        )
    )
    return [
        {
            "id": row.id,
            "title": row.title,
            "status": row.status,
            **upload_state(row.status, row.status_reason),
        }
        for row in sorted(rows, key=lambda r: r.id)
    ]
