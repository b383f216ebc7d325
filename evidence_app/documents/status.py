"""The words for a document's processing and review states: one table for every page,
export and finding."""

from __future__ import annotations

from storage import DocumentStatus, ReviewStatus

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
