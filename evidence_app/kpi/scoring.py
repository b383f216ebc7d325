"""Scoring rules (计分方法) of a framework's indicators: parse them, compute points from the
measured values staff enter (实际值, and the reference where the rule needs one), and compare
with the self-score (自评得分).

``score_rule_mismatch`` is raised when the computed points and the self-score differ by more
than ``SCORE_TOLERANCE`` (points are written with one or two decimals). Where part of a rule
is not entered (the ``每5人另加`` bonus, the second measure of ``两者中的高分``) the rule gives a
range, and only a self-score outside it is a mismatch. Severity: ``high`` when the self-score
is above what the rule gives (a claim the figures do not support), ``medium`` when below.
Unparseable rules are listed by ``scoring_report``, never guessed at.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence_app.admin import audit
from evidence_app.kpi import Rule, Score, normalize, parse_rule
from storage import Indicator, User

SCORE_TOLERANCE = 0.005
STATUS_LABELS = {
    "parsed": "可计算",
    "qualitative": "定性评价（不可计算）",
    "unparsed": "无法解析",
    "none": "无计分方法",
}
ALTERNATIVE_LABELS = {"whole_steps": "按整级计算（不足一级不计）"}


class MeasurementError(ValueError):
    """A measured value that cannot be stored; the message says why, in Chinese."""


@lru_cache(maxsize=2048)
def _parse(text: str, max_points: float | None) -> Rule:
    return parse_rule(text, max_points)


def rule_of(indicator: Indicator) -> Rule:
    """The indicator's parsed 计分方法 (cached by text)."""
    return _parse(indicator.scoring_rule or "", indicator.max_points)


def rule_status(rule: Rule) -> str:
    if rule.kind in ("qualitative", "unparsed", "none"):
        return rule.kind
    return "parsed"


def measured_values(indicator: Indicator) -> dict[str, Any]:
    values: dict[str, Any] = dict(indicator.measured_inputs or {})
    values["value"] = indicator.measured_value
    values["reference"] = indicator.reference_value
    return {k: v for k, v in values.items() if v is not None}


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{round(x, 4):g}"


def evaluate(indicator: Indicator) -> dict[str, Any]:
    """The rule, the entered values, the computed points and any mismatch with the self-score."""
    rule = rule_of(indicator)
    values = measured_values(indicator)
    data: dict[str, Any] = {
        "id": indicator.id,
        "code": indicator.code,
        "variant": indicator.variant,
        "name": indicator.name,
        "unit": indicator.unit,
        "max_points": indicator.max_points,
        "self_score": indicator.self_score,
        "status": rule_status(rule),
        "rule": rule.as_json(),
        "values": values,
        "points": None,
        "upper": None,
        "missing": [],
        "alternatives": {},
        "mismatch": None,
    }
    if not rule.computable or not values:
        return data
    score = rule.compute(values)
    data.update(score.as_json())
    data["mismatch"] = _mismatch(indicator.self_score, score)
    return data


def _mismatch(self_score: float | None, score: Score) -> dict[str, Any] | None:
    if self_score is None or score.points is None:
        return None
    low, high = score.points, score.upper if score.upper is not None else score.points
    if low - SCORE_TOLERANCE <= self_score <= high + SCORE_TOLERANCE:
        return None
    matches = [
        name
        for name, points in score.alternatives.items()
        if abs(points - self_score) <= SCORE_TOLERANCE
    ]
    return {"direction": "higher" if self_score > high else "lower", "matches": matches}


def _leaves(session: Session, framework_id: int) -> list[Indicator]:
    parents = select(Indicator.parent_id).where(
        Indicator.framework_id == framework_id, Indicator.parent_id.is_not(None)
    )
    return list(
        session.scalars(
            select(Indicator)
            .where(
                Indicator.framework_id == framework_id,
                Indicator.kind == "indicator",
                Indicator.id.not_in(parents),
            )
            .order_by(Indicator.position, Indicator.id)
        )
    )


def score_finding(indicator: Indicator, result: dict[str, Any]) -> dict[str, Any] | None:
    """The ``score_rule_mismatch`` finding for an evaluated indicator, if any."""
    mismatch = result["mismatch"]
    if mismatch is None:
        return None
    shown = []
    for spec in rule_of(indicator).inputs():
        value = result["values"].get(spec.key)
        if value is not None:
            shown.append(f"{spec.label} {value if isinstance(value, str) else _fmt(value)}")
    values = "，".join(shown)
    points = _fmt(result["points"])
    if result["upper"] is not None and result["upper"] != result["points"]:
        points = f"{_fmt(result['points'])}–{_fmt(result['upper'])}"
    detail = (
        f"{indicator.code} {indicator.name}：{values}，按计分方法得 {points} 分，"
        f"自评 {_fmt(indicator.self_score)} 分"
    )
    for name in mismatch["matches"]:
        detail += f"（{ALTERNATIVE_LABELS.get(name, name)}为 {_fmt(result['alternatives'][name])} 分，与自评一致）"
    return {
        "kind": "score_rule_mismatch",
        "severity": "high" if mismatch["direction"] == "higher" else "medium",
        "codes": [indicator.code],
        "documents": [],
        "detail": detail,
        "link": f"/indicators/{indicator.id}",
        "points": result["points"],
        "upper": result["upper"],
        "self_score": indicator.self_score,
        "values": result["values"],
        "rule": result["rule"]["describe"],
        "order": indicator.position,
    }


def score_findings(session: Session, framework_id: int) -> list[dict[str, Any]]:
    """``score_rule_mismatch`` findings of the framework's indicators, in table order."""
    out = []
    for indicator in _leaves(session, framework_id):
        if indicator.measured_value is None and not indicator.measured_inputs:
            continue
        finding = score_finding(indicator, evaluate(indicator))
        if finding is not None:
            out.append(finding)
    return out


def scoring_report(session: Session, framework_id: int) -> dict[str, Any]:
    """Every leaf's rule: counts of parsed / not computable / unparseable, each rule's parsed
    form, computed points where a measured value exists, and the mismatches."""
    rows = []
    findings = []
    counts = {
        "rules": 0,
        "parsed": 0,
        "not_computable": 0,
        "unparseable": 0,
        "without_rule": 0,
        "measured": 0,
        "computed": 0,
        "mismatches": 0,
    }
    for indicator in _leaves(session, framework_id):
        result = evaluate(indicator)
        status = result["status"]
        counts["rules"] += status != "none"
        counts[
            {
                "parsed": "parsed",
                "qualitative": "not_computable",
                "unparsed": "unparseable",
                "none": "without_rule",
            }[status]
        ] += 1
        counts["measured"] += bool(result["values"])
        counts["computed"] += result["points"] is not None
        finding = score_finding(indicator, result)
        if finding is not None:
            counts["mismatches"] += 1
            findings.append(finding)
        rows.append(
            {
                "code": result["code"],
                "variant": result["variant"],
                "name": result["name"],
                "status": status,
                "rule_text": indicator.scoring_rule,
                "parsed": result["rule"],
                "values": result["values"],
                "points": result["points"],
                "upper": result["upper"],
                "missing": result["missing"],
                "self_score": result["self_score"],
                "mismatch": result["mismatch"] is not None,
            }
        )
    return {
        "counts": counts,
        "rules": rows,
        "unparseable": [
            {"code": r["code"], "variant": r["variant"], "reason": r["parsed"].get("reason", "")}
            for r in rows
            if r["status"] == "unparsed"
        ],
        "findings": findings,
    }


# -- entering measured values --------------------------------------------------------------


def parse_number(text: str | float | int | None, label: str) -> float | None:
    """'95', '95%', '18:1', '1,200', '１２' -> a number; '' -> None; else MeasurementError."""
    if text is None:
        return None
    if isinstance(text, int | float):
        value = float(text)
    else:
        t = normalize(str(text)).removesuffix("%")
        if not t:
            return None
        try:
            if ":" in t:
                a, b = t.split(":", 1)
                value = float(a.replace(",", "")) / float(b.replace(",", ""))
            else:
                value = float(t.replace(",", ""))
        except (ValueError, ZeroDivisionError) as e:
            raise MeasurementError(f"{label}“{text}”不是数字") from e
    if not math.isfinite(value):
        raise MeasurementError(f"{label}“{text}”不是有效的数字")
    return value


def record_measurement(
    session: Session, indicator: Indicator, user: User | None, raw: dict[str, Any]
) -> dict[str, Any]:
    """Store the measured values for the indicator's rule (audited); empty values clear them.

    Returns the evaluation (computed points, mismatch) after the change."""
    rule = rule_of(indicator)
    if not rule.computable:
        raise MeasurementError(
            f"{indicator.code} 的计分方法{STATUS_LABELS[rule_status(rule)]}，无需录入实际值"
        )
    values: dict[str, Any] = {}
    for spec in rule.inputs():
        given = raw.get(spec.key)
        if spec.kind == "choice":
            choice = str(given or "").strip()
            if choice and choice not in spec.choices:
                raise MeasurementError(f"{spec.label}只能是：{'、'.join(spec.choices)}")
            if choice:
                values[spec.key] = choice
            continue
        number = parse_number(given, spec.label)
        if number is None:
            continue
        if spec.key.startswith(("reference", "item", "bonus")) and number < 0:
            raise MeasurementError(f"{spec.label}不能为负数")
        if spec.key.startswith("reference") and number == 0:
            raise MeasurementError(f"{spec.label}不能为 0")
        values[spec.key] = number
    before = measured_values(indicator)
    indicator.measured_value = values.pop("value", None)
    indicator.reference_value = values.pop("reference", None)
    indicator.measured_inputs = values or None
    session.flush()
    result = evaluate(indicator)
    audit.record(
        session,
        user,
        "indicator.measure",
        indicator,
        code=indicator.code,
        before=before,
        after=result["values"],
        points=result["points"],
        self_score=indicator.self_score,
    )
    session.flush()
    return result
