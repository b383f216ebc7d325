"""The audit log as a workbook (操作日志.xlsx): the rows the page's filters select."""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from sqlalchemy import Select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.coverage.export import first_sheet, save_workbook, style_sheet
from evidence_app.webui.filters import beijing
from storage import AuditLog

MAX_ROWS = 100_000  # a bounded export; the page says when a filter should narrow it
HEADER = ["时间（北京时间）", "用户", "操作", "操作代码", "对象", "对象编号", "详情"]


def detail_text(detail: dict[str, Any] | None) -> str:
    return "；".join(
        f"{audit.DETAIL_LABELS.get(key, key)}：{value}" for key, value in (detail or {}).items()
    )


def write_audit_xlsx(session: Session, stmt: Select[Any], out: Any) -> int:
    """Write the selected audit rows, newest first; the number of rows written. User text
    stays text (no formulas): ``save_workbook``."""
    wb = Workbook()
    ws = first_sheet(wb)
    ws.title = "操作日志"
    ws.append(HEADER)
    written = 0
    for row in session.scalars(stmt.order_by(AuditLog.id.desc()).limit(MAX_ROWS)):
        ws.append(
            [
                beijing(row.at),
                row.username,
                audit.ACTION_LABELS.get(row.action, row.action),
                row.action,
                audit.OBJECT_LABELS.get(row.object_type, row.object_type or ""),
                row.object_id,
                detail_text(row.detail),
            ]
        )
        written += 1
    style_sheet(ws, [18, 14, 18, 22, 10, 10, 80])
    save_workbook(wb, out)
    return written
