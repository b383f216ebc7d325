"""One audit finding (问题清单 row) and the words for its kinds, severities and statuses.

Kept apart from the finders (``coverage.findings``) so that any feature can raise findings
(KPI checks do) without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("high", "medium", "low")
KINDS = (
    "score_without_evidence",
    "indicator_without_evidence",
    "missing_entry",
    "overdue_entry",
    "duplicate_document",
    "unreadable_document",
    "damaged_document",
    "unmatched_document",
    "duplicate_entry_code",
    "misnumbered_entry",
    "ocr_only",
)
KIND_LABELS = {
    "score_without_evidence": "有自评分无佐证",
    "indicator_without_evidence": "指标无佐证",
    "missing_entry": "条目缺失",
    "overdue_entry": "逾期未交",
    "duplicate_document": "重复使用",
    "unreadable_document": "文件无法读取",
    "damaged_document": "文件已损坏",
    "unmatched_document": "未匹配文件",
    "duplicate_entry_code": "条目编号重复",
    "misnumbered_entry": "条目编号错误",
    "ocr_only": "仅 OCR 文字",
}
SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低"}

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
