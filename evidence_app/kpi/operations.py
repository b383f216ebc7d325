"""Performance indicators (绩效指标) in a framework: import, completion check, findings.

KPIs are indicators like any other (evidence links to them by code, coverage counts them), kept
apart by ``Indicator.kind``. They hang under their own branch so the tree stays a tree:

    KPI 绩效指标 (level 1, kind "kpi_group")
      KPI-数量 数量指标 (level 2, one per category, in the order 数量 质量 时效 成本 经济效益
                         社会效益 生态效益 可持续影响 满意度, then others, 未分类 last)
        1.1.5.1 建设具有国家示范性的数字化职教集团（联盟） (level 3, kind "kpi")

Grouping by category (not by the first code segment) follows how the reports present them
(数量指标表 / 质量指标表 …) and keeps codes such as ``1.3.1`` and ``1.1.1.1`` apart from the
assessment table's ``1`` / ``1.1`` nodes. The branch is placed after the assessment table
(positions from ``POSITION_BASE``), so re-importing the assessment table leaves it alone.

Import updates by code and never duplicates: a KPI already in the framework is updated in
place (its links, measured values and history stay), a new code is added, and KPIs absent from
the file are kept (tables are often imported one file at a time) and listed in the report. A
code that is already an assessment-table indicator of the framework is not imported (warning):
two indicators with one code would make evidence file names ambiguous.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.coverage.finding import Finding
from evidence_app.frameworks import code_key
from evidence_app.kpi import (
    CATEGORY_ORDER,
    CompletionCheck,
    KpiFigures,
    KpiImportError,
    ParsedKpis,
    check_completion,
    parse_kpi_file,
    scoring,
)
from storage import Framework, Indicator, User

KIND_KPI = "kpi"
KIND_GROUP = "kpi_group"
ROOT_CODE = "KPI"
ROOT_NAME = "绩效指标"
UNCATEGORISED = "未分类"
POSITION_BASE = 1_000_000

# The finding kinds this module adds to the audit findings, most severe first.
KPI_KIND_LABELS: dict[str, str] = {
    "below_target_reported_complete": "未达目标却报完成",
    "score_rule_mismatch": "自评分与计分方法不符",
    "completion_mismatch": "完成度不一致",
    "achieved_not_numeric": "实现值无法核对",
    "target_not_numeric": "目标值无法计算",
}
KPI_SEVERITY = {
    "below_target_reported_complete": "high",
    "completion_mismatch": "medium",
    "achieved_not_numeric": "low",
    "target_not_numeric": "low",
}
OUTCOME_LABELS = {
    "ok": "一致",
    "not_reported": "未报告完成度",
    **{k: v for k, v in KPI_KIND_LABELS.items() if k != "score_rule_mismatch"},
}


def group_code(category: str) -> str:
    return f"{ROOT_CODE}-{category or UNCATEGORISED}"


# -- import --------------------------------------------------------------------------------


def import_kpi_file(
    session: Session,
    framework_id: int,
    path: Path | str,
    *,
    user: User | None = None,
    source_name: str | None = None,
) -> dict[str, Any]:
    """Parse a KPI table file and add or update its KPIs in the framework; the import report.

    Raises KpiImportError (nothing written) when the file or framework cannot be used."""
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise KpiImportError(f"指标体系 {framework_id} 不存在")
    path = Path(path)
    source_name = source_name or path.name
    parsed = parse_kpi_file(path, source_name)
    return import_kpis(session, framework, parsed, user=user, source_name=source_name)


_FIELDS = (
    "name",
    "unit",
    "category",
    "final_target",
    "midterm_target",
    "achieved_value",
    "achieved_text",
    "reported_completion",
    "reported_completion_text",
    "source_ref",
)


def import_kpis(
    session: Session,
    framework: Framework,
    parsed: ParsedKpis,
    *,
    user: User | None = None,
    source_name: str = "",
) -> dict[str, Any]:
    existing = list(
        session.scalars(select(Indicator).where(Indicator.framework_id == framework.id))
    )
    kpis = {i.code: i for i in existing if i.kind == KIND_KPI}
    groups = {i.code: i for i in existing if i.kind == KIND_GROUP}
    taken = {i.code for i in existing if i.kind not in (KIND_KPI, KIND_GROUP)}
    warnings = list(parsed.warnings)

    root = groups.get(ROOT_CODE)
    if root is None:
        root = Indicator(
            framework_id=framework.id, level=1, code=ROOT_CODE, name=ROOT_NAME, kind=KIND_GROUP
        )
        session.add(root)
        groups[ROOT_CODE] = root

    def group_for(category: str) -> Indicator:
        code = group_code(category)
        group = groups.get(code)
        if group is None:
            group = Indicator(
                framework_id=framework.id,
                level=2,
                code=code,
                name=f"{category or UNCATEGORISED}指标",
                kind=KIND_GROUP,
                category=category,
                parent=root,
            )
            session.add(group)
            groups[code] = group
        return group

    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    for row in parsed.rows:
        if row.code in taken:
            skipped.append(row.code)
            warnings.append(
                f"{row.source_ref}：编号 {row.code} 已是本指标体系的指标，绩效指标“{row.name}”未导入"
            )
            continue
        values = {
            "name": row.name,
            "unit": row.unit,
            "category": row.category,
            "final_target": row.final_target,
            "midterm_target": row.midterm_target,
            "achieved_value": row.achieved_value,
            "achieved_text": row.achieved_text,
            "reported_completion": row.reported_completion,
            "reported_completion_text": row.completion_text,
            "source_ref": row.source_ref,
        }
        group = group_for(row.category)
        indicator = kpis.get(row.code)
        if indicator is None:
            indicator = Indicator(
                framework_id=framework.id, level=3, code=row.code, variant=0, kind=KIND_KPI
            )
            session.add(indicator)
            kpis[row.code] = indicator
            created.append(row.code)
        elif (
            any(getattr(indicator, f) != v for f, v in values.items())
            or indicator.parent_id != group.id
        ):
            updated.append(row.code)
        else:
            unchanged.append(row.code)
        for f, v in values.items():
            setattr(indicator, f, v)
        indicator.parent = group
    session.flush()
    _drop_empty_groups(session, framework.id)
    _reposition(session, framework.id)
    session.flush()
    in_file = {r.code for r in parsed.rows}
    report = {
        "framework_id": framework.id,
        "source": source_name,
        "tables": parsed.tables,
        "rows": len(parsed.rows),
        "created": len(created),
        "updated": len(updated),
        "unchanged": len(unchanged),
        "skipped": skipped,
        "not_in_file": sorted((c for c in kpis if c not in in_file), key=code_key),
        "kpis": len(kpis),
        "categories": dict(
            Counter(r.category or UNCATEGORISED for r in parsed.rows if r.code not in taken)
        ),
        "warnings": warnings,
        "completion": dict(Counter(c.outcome for _, c in kpi_checks(session, framework.id))),
    }
    audit.record(
        session,
        user,
        "kpi.import",
        framework,
        source=source_name,
        rows=len(parsed.rows),
        created=len(created),
        updated=len(updated),
        skipped=len(skipped),
    )
    session.flush()
    return report


def _drop_empty_groups(session: Session, framework_id: int) -> None:
    """Category nodes left without KPIs (a KPI moved to another category) are removed, so no
    empty group shows up as a leaf without evidence."""
    while True:
        nodes = list(
            session.scalars(
                select(Indicator).where(
                    Indicator.framework_id == framework_id,
                    Indicator.kind.in_((KIND_KPI, KIND_GROUP)),
                )
            )
        )
        parents = {n.parent_id for n in nodes if n.parent_id is not None}
        empty = [n for n in nodes if n.kind == KIND_GROUP and n.id not in parents]
        if not empty:
            return
        for n in empty:
            session.delete(n)
        session.flush()


def _reposition(session: Session, framework_id: int) -> None:
    """Root, then each category group followed by its KPIs in code order."""
    nodes = list(
        session.scalars(
            select(Indicator).where(
                Indicator.framework_id == framework_id,
                Indicator.kind.in_((KIND_KPI, KIND_GROUP)),
            )
        )
    )
    root = next((n for n in nodes if n.code == ROOT_CODE and n.kind == KIND_GROUP), None)
    if root is None:
        return
    order = {c: i for i, c in enumerate(CATEGORY_ORDER)}

    def group_rank(g: Indicator) -> tuple[int, str]:
        if g.category in order:
            return (order[g.category], g.code)
        return (len(order) + (1 if not g.category else 0), g.code)

    position = POSITION_BASE
    root.position = position
    groups = sorted((n for n in nodes if n.parent_id == root.id), key=group_rank)
    for group in groups:
        position += 1
        group.position = position
        for kpi in sorted(
            (n for n in nodes if n.parent_id == group.id), key=lambda n: code_key(n.code)
        ):
            position += 1
            kpi.position = position


# -- checks and findings -------------------------------------------------------------------


def kpis_of(session: Session, framework_id: int) -> list[Indicator]:
    return list(
        session.scalars(
            select(Indicator)
            .where(Indicator.framework_id == framework_id, Indicator.kind == KIND_KPI)
            .order_by(Indicator.position, Indicator.id)
        )
    )


def figures_of(indicator: Indicator) -> KpiFigures:
    return KpiFigures(
        code=indicator.code,
        name=indicator.name,
        final_target=indicator.final_target,
        midterm_target=indicator.midterm_target,
        achieved_value=indicator.achieved_value,
        achieved_text=indicator.achieved_text,
        reported_completion=indicator.reported_completion,
        reported_completion_text=indicator.reported_completion_text,
        source_ref=indicator.source_ref,
    )


def kpi_checks(session: Session, framework_id: int) -> list[tuple[Indicator, CompletionCheck]]:
    """Each KPI with its completion check (groups decide their convention together)."""
    kpis = kpis_of(session, framework_id)
    return list(zip(kpis, check_completion([figures_of(k) for k in kpis]), strict=True))


def _completion_finding(indicator: Indicator, check: CompletionCheck) -> dict[str, Any]:
    detail = check.detail
    if indicator.source_ref:
        detail += f"〔{indicator.source_ref}〕"
    return {
        "kind": check.outcome,
        "severity": KPI_SEVERITY[check.outcome],
        "codes": [indicator.code],
        "documents": [],
        "detail": detail,
        "link": f"/indicators/{indicator.id}",
        "computed": None if check.computed is None else round(check.computed, 4),
        "reported": check.reported,
        "convention": check.convention,
        "agrees_with": check.agrees_with,
        "source": indicator.source_ref,
        "order": indicator.position,
    }


def completion_findings(session: Session, framework_id: int) -> list[dict[str, Any]]:
    return [
        _completion_finding(indicator, check)
        for indicator, check in kpi_checks(session, framework_id)
        if check.outcome in KPI_SEVERITY
    ]


def kpi_findings(session: Session, framework_id: int) -> list[dict[str, Any]]:
    """KPI completion findings and ``score_rule_mismatch`` findings, as finding dicts
    ({"kind", "severity", "codes", "documents", "detail", "link"} plus their figures)."""
    return completion_findings(session, framework_id) + scoring.score_findings(
        session, framework_id
    )


def kpi_finding_objects(session: Session, framework_id: int) -> list[Finding]:
    """The same findings as ``Finding`` objects, for ``coverage.findings.compute_findings``."""
    base = ("kind", "severity", "codes", "documents", "detail", "link", "order")
    return [
        Finding(
            f["kind"],
            f["severity"],
            f["codes"],
            f["documents"],
            f["detail"],
            f["link"],
            extra={k: v for k, v in f.items() if k not in base},
            order=(f["order"],),
        )
        for f in kpi_findings(session, framework_id)
    ]


def kpi_panel(session: Session, indicator: Indicator) -> dict[str, Any]:
    """What the indicator page shows of this module: the KPI figures and check, and the
    scoring rule with the computed points."""
    panel: dict[str, Any] = {"kpi": None, "scoring": None}
    if indicator.kind == KIND_KPI:
        for kpi, check in kpi_checks(session, indicator.framework_id):
            if kpi.id == indicator.id:
                panel["kpi"] = {
                    "check": check,
                    "outcome_label": OUTCOME_LABELS.get(check.outcome, check.outcome),
                    "severity": KPI_SEVERITY.get(check.outcome, ""),
                }
                break
    if indicator.kind == "indicator" and (indicator.scoring_rule or "").strip():
        result = scoring.evaluate(indicator)
        result["status_label"] = scoring.STATUS_LABELS[result["status"]]
        result["finding"] = scoring.score_finding(indicator, result)
        result["inputs"] = scoring.rule_of(indicator).inputs()
        panel["scoring"] = result
    return panel


def check_report(session: Session, framework_id: int) -> dict[str, Any]:
    """What ``evidence check`` prints: KPI completion checks, scoring-rule parse results and
    computed points, and the findings of both."""
    framework = session.get(Framework, framework_id)
    if framework is None:
        raise LookupError(f"指标体系 {framework_id} 不存在")
    checks = kpi_checks(session, framework_id)
    scoring_data = scoring.scoring_report(session, framework_id)
    completion = [_completion_finding(i, c) for i, c in checks if c.outcome in KPI_SEVERITY]
    rank = {"high": 0, "medium": 1, "low": 2}
    findings = sorted(
        completion + scoring_data["findings"], key=lambda f: (rank[f["severity"]], f["order"])
    )
    outcomes = Counter(c.outcome for _, c in checks)
    return {
        "framework": {"id": framework.id, "name": framework.name},
        "kpi": {
            "count": len(checks),
            "outcomes": {k: outcomes.get(k, 0) for k in OUTCOME_LABELS},
            "checks": [{"name": i.name, "source": i.source_ref, **c.as_json()} for i, c in checks],
        },
        "scoring": {
            "counts": scoring_data["counts"],
            "rules": scoring_data["rules"],
            "unparseable": scoring_data["unparseable"],
        },
        "findings": [{k: v for k, v in f.items() if k != "order"} for f in findings],
        "finding_counts": dict(Counter(f["kind"] for f in findings)),
    }
