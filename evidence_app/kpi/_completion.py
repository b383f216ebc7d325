"""Check a KPI's reported completion (中期完成度) against its own figures.

computed = 中期实现值 ÷ 中期目标值 × 100 (for a target written "≤ x" or "< x", where lower
is better, it is 目标值 ÷ 实现值 × 100). A row with no 中期目标值 at all (a final report's
table: 期满目标值 / 实现值 / 完成度) is computed on its 期满目标值, and says so. Reports use two conventions: the plain ratio
(``uncapped``: 30/15 is 200 %) and the ratio capped at 100 % (``capped``). Which one a table
uses is decided per group of KPIs sharing their code without its last part (``1.1.4.*``: one
table of the report): each row whose ratio is above 100 % votes for the convention its reported
figure agrees with; the majority wins, a tie goes to the plain ratio, and a group without
votes accepts either (below 100 % they are the same).

Tolerance: a reported figure agrees with a computed one when they differ by at most half a
unit of its last written digit ("144%" covers 143.5–144.5; "35.6%" covers 35.55–35.65), so
any correct rounding is accepted and nothing else. A ratio below 99.5 % does not round to
100 %: that is "below target".

Outcome per KPI (one each; ``kind`` of the finding, or ``ok`` / ``not_reported``):

* ``achieved_not_numeric`` — 中期实现值 is text ("立项1个，23年申报1个") or empty: the
  claim cannot be checked.
* ``target_not_numeric`` — 实现值 is a number but 中期目标值 is not (``/``, ``--``,
  "月收入 × 110%", "逐步优化") or is 0.
* ``below_target_reported_complete`` — the ratio is below 99.5 % but 100 % or more is
  reported (takes the place of a completion_mismatch for that row).
* ``completion_mismatch`` — the reported figure disagrees with its group's convention.
  ``agrees_with`` lists every convention that would reproduce it: ``uncapped``, ``capped``,
  and the same two computed on 期满目标值 × 50 % (``final_half``, ``final_half_capped``) or on
  期满目标值 (``final``, ``final_capped``); empty when none does.
* ``not_reported`` — figures present but no completion reported: nothing to contradict.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from evidence_app.kpi._numbers import Figure, parse_figure, parse_percent

CONVENTIONS: dict[str, str] = {
    "uncapped": "实现值÷中期目标值",
    "capped": "实现值÷中期目标值，封顶100%",
    "final_half": "实现值÷(期满目标值×50%)",
    "final_half_capped": "实现值÷(期满目标值×50%)，封顶100%",
    "final": "实现值÷期满目标值",
    "final_capped": "实现值÷期满目标值，封顶100%",
}
BELOW_TARGET = 99.5  # percent: a ratio under this does not round to 100 %
EPSILON = 1e-9


@dataclass
class KpiFigures:
    """What the check needs of one KPI row."""

    code: str
    name: str = ""
    final_target: str = ""
    midterm_target: str = ""
    achieved_value: float | None = None
    achieved_text: str = ""
    reported_completion: float | None = None  # percent
    reported_completion_text: str = ""
    source_ref: str = ""


@dataclass
class CompletionCheck:
    code: str
    outcome: str
    computed: float | None = None  # percent, uncapped
    reported: float | None = None  # percent
    tolerance: float | None = None  # percentage points
    convention: str = ""  # the group's: uncapped | capped | either
    agrees_with: list[str] = field(default_factory=list)
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "outcome": self.outcome,
            "computed": None if self.computed is None else round(self.computed, 4),
            "reported": self.reported,
            "tolerance": self.tolerance,
            "convention": self.convention,
            "agrees_with": self.agrees_with,
            "detail": self.detail,
        }


def target_text(row: KpiFigures) -> str:
    """中期目标值; 期满目标值 for a row without one (a table with no 中期 column)."""
    return row.midterm_target.strip() or row.final_target.strip()


def target_label(row: KpiFigures) -> str:
    return (
        "中期目标值" if row.midterm_target.strip() or not row.final_target.strip() else "期满目标值"
    )


def group_of(code: str) -> str:
    return code.rsplit(".", 1)[0] if "." in code else code


def ratio(achieved: float, target: Figure) -> float | None:
    """achieved ÷ target in percent (target ÷ achieved when lower is better)."""
    if target.lower_is_better:
        if achieved <= 0:
            return None
        return target.value / achieved * 100
    if target.value <= 0:
        return None
    return achieved / target.value * 100


def tolerance_of(row: KpiFigures) -> float:
    decimals = parse_percent(row.reported_completion_text)[1] if row.reported_completion_text else 0
    return 0.5 * 10 ** (-decimals)


def agrees(reported: float, computed: float, tolerance: float) -> bool:
    return abs(reported - computed) <= tolerance + EPSILON


def _alternatives(row: KpiFigures, mid: Figure) -> dict[str, float]:
    assert row.achieved_value is not None
    out: dict[str, float] = {}
    r = ratio(row.achieved_value, mid)
    if r is not None:
        out["uncapped"] = r
        out["capped"] = min(r, 100.0)
    final = parse_figure(row.final_target)
    if final is not None:
        half = Figure(final.value * 0.5, final.op, final.percent)
        for key, target in (("final_half", half), ("final", final)):
            r = ratio(row.achieved_value, target)
            if r is not None:
                out[key] = r
                out[f"{key}_capped"] = min(r, 100.0)
    return out


def _pct(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


def _num(value: float) -> str:
    return f"{value:.6g}"


def check_completion(rows: list[KpiFigures]) -> list[CompletionCheck]:
    """One check per row, in the order given (see the module docstring)."""
    prepared: list[tuple[KpiFigures, Figure | None, float | None]] = []
    votes: dict[str, Counter[str]] = {}
    for row in rows:
        mid = parse_figure(target_text(row))
        computed = None
        if row.achieved_value is not None and mid is not None:
            computed = ratio(row.achieved_value, mid)
        prepared.append((row, mid, computed))
        if computed is None or row.reported_completion is None:
            continue
        tol = tolerance_of(row)
        if computed > 100 + tol:
            vote = ""
            if agrees(row.reported_completion, computed, tol):
                vote = "uncapped"
            elif agrees(row.reported_completion, 100.0, tol):
                vote = "capped"
            if vote:
                votes.setdefault(group_of(row.code), Counter())[vote] += 1
    conventions: dict[str, str] = {}
    for group, counts in votes.items():
        conventions[group] = "capped" if counts["capped"] > counts["uncapped"] else "uncapped"

    out: list[CompletionCheck] = []
    for row, mid, computed in prepared:
        label = f"{row.code} {row.name}".strip()
        reported = row.reported_completion
        shown = row.reported_completion_text or ("—" if reported is None else _pct(reported))
        if row.achieved_value is None:
            what = f"“{row.achieved_text}”" if row.achieved_text else "未填写"
            out.append(
                CompletionCheck(
                    row.code,
                    "achieved_not_numeric",
                    reported=reported,
                    detail=f"{label}：中期实现值{what}不是数字，报告完成度 {shown} 无法核对",
                )
            )
            continue
        if mid is None or computed is None:
            target = target_text(row) or "未填写"
            out.append(
                CompletionCheck(
                    row.code,
                    "target_not_numeric",
                    reported=reported,
                    detail=f"{label}：{target_label(row)}“{target}”不是可计算的数字，"
                    f"实现值 {_num(row.achieved_value)}、报告完成度 {shown} 无法核对",
                )
            )
            continue
        convention = conventions.get(group_of(row.code), "either")
        if reported is None:
            out.append(
                CompletionCheck(
                    row.code,
                    "not_reported",
                    computed=computed,
                    convention=convention,
                    detail=f"{label}：未报告完成度（按实现值计算为 {_pct(computed)}）",
                )
            )
            continue
        tol = tolerance_of(row)
        alternatives = _alternatives(row, mid)
        agreeing = [k for k, v in alternatives.items() if agrees(reported, v, tol)]
        figures = (
            f"实现值 {_num(row.achieved_value)} ÷ {target_label(row)} {target_text(row)} = "
            f"{_pct(computed)}，报告完成度 {shown}"
        )
        if computed < BELOW_TARGET and reported >= 100 - tol - EPSILON:
            out.append(
                CompletionCheck(
                    row.code,
                    "below_target_reported_complete",
                    computed=computed,
                    reported=reported,
                    tolerance=tol,
                    convention=convention,
                    agrees_with=agreeing,
                    detail=f"{label}：{figures}，未达目标却报告已完成",
                )
            )
            continue
        expected = {
            "uncapped": ["uncapped"],
            "capped": ["capped"],
            "either": ["uncapped", "capped"],
        }[convention]
        if any(k in agreeing for k in expected):
            out.append(
                CompletionCheck(
                    row.code,
                    "ok",
                    computed=computed,
                    reported=reported,
                    tolerance=tol,
                    convention=convention,
                    agrees_with=agreeing,
                )
            )
            continue
        # name the plain conventions when one of them fits, else those on 期满目标值
        named = [k for k in agreeing if k in ("uncapped", "capped")] or agreeing
        if named:
            how = "；按“" + "”或“".join(CONVENTIONS[k] for k in named) + "”计算则一致"
        else:
            how = "；任何口径（封顶100%或不封顶，按中期或期满目标值）都得不到该数字"
        group_rule = {
            "uncapped": "本组其余指标按实际比例报告（不封顶）",
            "capped": "本组其余指标封顶100%报告",
            "either": "",
        }[convention]
        detail = f"{label}：{figures}"
        detail += f"；{group_rule}" if group_rule else ""
        detail += how
        out.append(
            CompletionCheck(
                row.code,
                "completion_mismatch",
                computed=computed,
                reported=reported,
                tolerance=tol,
                convention=convention,
                agrees_with=agreeing,
                detail=detail,
            )
        )
    return out
