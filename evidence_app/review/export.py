"""The 网评 outputs: every mark per indicator and expert, the 调阅 requests with their state,
and the 入校问题清单 (the ``question`` marks grouped by level-1 indicator), as JSON
(``evidence review export --json``) and as a workbook ready to print (评审意见, 调阅清单,
入校问题清单), laid out and saved the way every workbook of the app is
(``coverage.export.style_sheet`` / ``save_workbook``: user text stays text, never a formula).

The question list is the group's: where the lead wrote a final mark, that mark decides (a
final ``question`` is listed, the experts' own questions there are not); elsewhere every
expert's ``question`` is listed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from evidence_app.coverage.export import first_sheet, save_workbook, style_sheet
from evidence_app.review.marks import (
    MARK_LABELS,
    MARK_SYMBOLS,
    mark_text,
    overview,
)
from evidence_app.review.requests import REQUEST_LABELS, iso, person, request_json
from storage import Document, Framework, Indicator, MaterialRequest

BEIJING = timezone(timedelta(hours=8))  # the college's clock, for printed dates

MARK_HEADER = [
    "指标编号",
    "指标名称",
    "分值",
    "专家",
    "标记",
    "意见",
    "评分",
    "组长定稿",
    "更新时间",
]
REQUEST_HEADER = [
    "序号",
    "指标编号",
    "指标名称",
    "提出专家",
    "调阅内容",
    "状态",
    "提出时间",
    "答复时间",
    "答复人",
    "答复说明",
    "答复材料",
]
QUESTION_HEADER = ["一级指标", "指标编号", "指标名称", "入校核查问题", "提出人", "来源"]


def _printed(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _level1(indicator: Indicator, by_id: dict[int, Indicator]) -> Indicator:
    node = indicator
    while node.parent_id is not None and node.parent_id in by_id:
        node = by_id[node.parent_id]
    return node


def review_report(
    session: Session, framework_id: int, scope: set[int] | None = None
) -> dict[str, Any]:
    """``evidence review export --json``: ``marks``, ``requests``, ``questions`` (within
    ``scope``, an indicator id set; None: the whole framework)."""
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise LookupError(f"指标体系 {framework_id} 不存在")
    view = overview(session, framework, scope)
    names = {e.id: person(e) for e in view.experts}
    marks: list[dict[str, Any]] = []
    for row in view.rows:
        given = sorted(row.marks.values(), key=lambda m: m.expert_id)
        for m in [*given, *([row.final] if row.final else [])]:
            marks.append(
                {
                    "code": row.indicator.code,
                    "name": row.indicator.name,
                    "max_points": row.indicator.max_points,
                    "expert": names.get(m.expert_id) or person(m.expert),
                    "mark": m.mark,
                    "symbol": MARK_SYMBOLS[m.mark],
                    "label": MARK_LABELS[m.mark],
                    "comment": m.comment,
                    "score": m.score,
                    "final": m.final,
                    "updated_at": iso(m.updated_at),
                }
            )

    stmt = (
        select(MaterialRequest)
        .where(MaterialRequest.framework_id == framework_id)
        .options(
            selectinload(MaterialRequest.indicator),
            selectinload(MaterialRequest.documents).selectinload(Document.versions),
        )
        .order_by(MaterialRequest.created_at, MaterialRequest.id)
    )
    if scope is not None:
        stmt = stmt.where(MaterialRequest.indicator_id.in_(scope))
    requests = [request_json(r) for r in session.scalars(stmt)]

    every = {
        i.id: i
        for i in session.scalars(select(Indicator).where(Indicator.framework_id == framework_id))
    }
    groups: dict[int, dict[str, Any]] = {}
    for row in view.rows:
        if row.final is not None:
            asked = [row.final] if row.final.mark == "question" else []
        else:
            asked = sorted(
                (m for m in row.marks.values() if m.mark == "question"),
                key=lambda m: m.expert_id,
            )
        if not asked:
            continue
        top = _level1(row.indicator, every)
        group = groups.setdefault(
            top.id, {"code": top.code, "name": top.name, "position": top.position, "items": []}
        )
        for m in asked:
            group["items"].append(
                {
                    "code": row.indicator.code,
                    "name": row.indicator.name,
                    "question": m.comment,
                    "expert": names.get(m.expert_id) or person(m.expert),
                    "final": m.final,
                    "score": m.score,
                }
            )
    questions = [
        {"code": g["code"], "name": g["name"], "questions": g["items"]}
        for g in sorted(groups.values(), key=lambda g: g["position"])
    ]
    return {
        "framework": {"id": framework.id, "name": framework.name},
        "experts": [
            {"id": e.id, "name": names[e.id], "lead": e.is_lead, "active": e.is_active}
            for e in view.experts
        ],
        "summary": {
            "indicators": len(view.rows),
            "marked": view.marked,
            "finalized": view.finalized,
            "requests_open": sum(1 for r in requests if r["status"] == "open"),
            "questions": sum(len(g["questions"]) for g in questions),
        },
        "marks": marks,
        "requests": requests,
        "questions": questions,
    }


def _print_ready(ws: Any, widths: list[int], wrapped: list[int]) -> None:
    """The shared header style plus what a printed list needs: wrapped long text, the
    header repeated on every page, landscape, fitted to the page width."""
    from openpyxl.styles import Alignment

    style_sheet(ws, widths)
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            wrap = cell.column in wrapped
            cell.alignment = Alignment(vertical="top", wrap_text=wrap)
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def write_review_xlsx(
    session: Session,
    framework_id: int,
    out: str | Path | BinaryIO,
    *,
    scope: set[int] | None = None,
    report: dict[str, Any] | None = None,
) -> None:
    """The workbook: 评审意见, 调阅清单, 入校问题清单."""
    report = report or review_report(session, framework_id, scope)
    from openpyxl import Workbook

    wb = Workbook()
    ws = first_sheet(wb)
    ws.title = "评审意见"
    ws.append(MARK_HEADER)
    for m in report["marks"]:
        ws.append(
            [
                m["code"],
                m["name"],
                m["max_points"],
                m["expert"],
                mark_text(m["mark"]),
                m["comment"],
                m["score"],
                "是" if m["final"] else "",
                _printed(_parse(m["updated_at"])),
            ]
        )
    _print_ready(ws, [10, 30, 7, 12, 20, 60, 7, 9, 17], wrapped=[2, 6])

    ws = wb.create_sheet("调阅清单")
    ws.append(REQUEST_HEADER)
    for n, r in enumerate(report["requests"], start=1):
        files = "\n".join(
            f"{d['name']}" + (f"（{d['code']}）" if d["code"] else "") for d in r["documents"]
        )
        ws.append(
            [
                n,
                r["indicator"]["code"],
                r["indicator"]["name"],
                r["expert"],
                r["text"],
                REQUEST_LABELS.get(r["status"], r["status"]),
                _printed(_parse(r["created_at"])),
                _printed(_parse(r["answered_at"])),
                r["answered_by"] or "",
                r["answer_note"],
                files,
            ]
        )
    _print_ready(ws, [6, 10, 26, 12, 48, 9, 17, 17, 12, 30, 40], wrapped=[3, 5, 10, 11])

    ws = wb.create_sheet("入校问题清单")
    ws.append(QUESTION_HEADER)
    for group in report["questions"]:
        for q in group["questions"]:
            ws.append(
                [
                    f"{group['code']} {group['name']}",
                    q["code"],
                    q["name"],
                    q["question"],
                    q["expert"],
                    "组长定稿" if q["final"] else "专家意见",
                ]
            )
    _print_ready(ws, [16, 10, 30, 70, 12, 10], wrapped=[1, 3, 4])
    save_workbook(wb, out)


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC).replace(tzinfo=None)
