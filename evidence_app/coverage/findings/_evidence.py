"""Evidence present or not: scores claimed without evidence, indicators and entries
without it, overdue work."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date

from evidence_app.coverage.finding import (
    Finding,
)
from evidence_app.coverage.findings._shared import FindingContext
from evidence_app.coverage.operations import (
    ENTRY_UNUSABLE,
    Coverage,
)


def find(ctx: FindingContext) -> Iterable[Finding]:
    return _evidence_findings(ctx.coverage, ctx.today)


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
