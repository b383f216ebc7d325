"""计分方法 (scoring rules) parsed into rules that turn measured values into points.

Kinds of rule, tried in this order on the text (full-width marks, LaTeX ``$\\geq 95\\%$`` and
spaces normalised first):

``qualitative``  定性评价 / 由专家…综合判断: experts judge; not computable.
``linear``       a base value worth base points, then ``每高于…1%，增加0.2分`` /
                 ``每低2%减0.1分`` per unit above or below, with 最高/最低 caps (default: the
                 indicator's points and 0). Partial units count in proportion (82.5 % is 2.5
                 steps above 80 %); the reading that counts whole steps only is computed too and
                 named in a finding when it is the one that matches the self-score. When the
                 text lists several base values by school type (``达4000元/生`` / ``达3000元/生``,
                 ``达18:1`` …) the applicable one is entered as the reference. ``每5人另加0.1分``
                 is a bonus counted from a second input (whole groups only).
``items``        ``每新增一个…得1分``, ``…每项得0.5分`` …: a count per kind of item, points
                 summed and capped by ``最高得5分`` (default: the indicator's points).
``proportional`` ``最多的高校得满分3分，其余学校按比例计算``: full points × value ÷ the best
                 value entered as the reference; with two such measures and ``两者中的高分``,
                 the higher result counts.
``schemes``      separate threshold tables for 公办 / 民办 in one rule; the scheme is chosen.
``bands``        thresholds: ``≥95%，得2分；<95%但≥90%，得1.5分；…<85%，不得分`` and
                 ``55%≤占比<60%得1.5分``; bounds may be multiples of a reference
                 (``≥所在规划学校平均水平的1.3倍``), entered with the measured value. The
                 intervals must cover every value exactly once, or the rule is not accepted.
                 A clause with no bound (``没有参加调查…的，不得分``) is kept as a condition.
``unparsed``     anything else: listed with the reason, never guessed.

Values are entered in the unit of the rule: percentages as numbers of percent (95 for 95 %),
生师比 18:1 as 18. Points are rounded to 4 decimals; a value within 1e-9 (relative) of a
threshold counts as on it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from evidence_app.kpi._numbers import normalize

INF = math.inf
_NUM = r"\d+(?:\.\d+)?"


def _eps(b: float) -> float:
    return 1e-9 * max(1.0, abs(b))


def _ge(x: float, b: float) -> bool:
    return x >= b - _eps(b)


def _gt(x: float, b: float) -> bool:
    return x > b + _eps(b)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x in (INF, -INF):
        return "∞" if x > 0 else "-∞"
    return f"{round(x, 4):g}"


def _round(x: float) -> float:
    return round(x + 0.0, 4) + 0.0


class RuleError(ValueError):
    """The text does not read as this kind of rule (the message says why)."""


@dataclass(frozen=True)
class Input:
    """One value the rule needs; ``key`` is where it is stored."""

    key: str
    label: str
    kind: str = "number"  # number | choice
    choices: tuple[str, ...] = ()
    required: bool = True
    hint: str = ""

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "label": self.label, "required": self.required}
        if self.kind != "number":
            data["kind"] = self.kind
            data["choices"] = list(self.choices)
        if self.hint:
            data["hint"] = self.hint
        return data


@dataclass
class Score:
    """Points for the entered values; ``upper`` is above ``points`` while an optional part
    (a bonus, a second measure) is not entered; ``missing`` names required inputs not given."""

    points: float | None
    upper: float | None = None
    missing: list[str] = field(default_factory=list)
    alternatives: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.upper is None:
            self.upper = self.points

    def as_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "upper": self.upper,
            "missing": self.missing,
            "alternatives": self.alternatives,
        }


# -- the rules -------------------------------------------------------------------------------


@dataclass
class Rule:
    text: str
    max_points: float | None = None
    kind: str = ""
    computable: bool = True
    notes: list[str] = field(default_factory=list)

    def inputs(self) -> list[Input]:
        return []

    def compute(self, values: dict[str, Any]) -> Score:  # pragma: no cover - overridden
        return Score(None)

    def describe(self) -> str:
        return ""

    def details(self) -> dict[str, Any]:
        return {}

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "computable": self.computable,
            "describe": self.describe(),
            "inputs": [i.as_json() for i in self.inputs()],
            "notes": self.notes,
            **self.details(),
        }


@dataclass
class NoRule(Rule):
    kind: str = "none"
    computable: bool = False

    def describe(self) -> str:
        return "无计分方法"


@dataclass
class QualitativeRule(Rule):
    kind: str = "qualitative"
    computable: bool = False

    def describe(self) -> str:
        return "定性评价（专家评定，不可计算）"


@dataclass
class UnparsedRule(Rule):
    kind: str = "unparsed"
    computable: bool = False
    reason: str = ""

    def describe(self) -> str:
        return f"无法解析：{self.reason}"

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason}


@dataclass
class Band:
    lo: float
    lo_incl: bool
    hi: float
    hi_incl: bool
    points: float

    def contains(self, x: float) -> bool:
        if self.lo != -INF and not (_ge(x, self.lo) if self.lo_incl else _gt(x, self.lo)):
            return False
        return self.hi == INF or (not _gt(x, self.hi) if self.hi_incl else not _ge(x, self.hi))

    def as_json(self) -> dict[str, Any]:
        return {
            "min": None if self.lo == -INF else self.lo,
            "min_inclusive": self.lo_incl,
            "max": None if self.hi == INF else self.hi,
            "max_inclusive": self.hi_incl,
            "points": self.points,
        }


@dataclass
class BandsRule(Rule):
    kind: str = "bands"
    bands: list[Band] = field(default_factory=list)
    scale: str = "absolute"  # absolute | reference (bounds are multiples of the reference)
    variable: str = "实际值"
    reference_label: str = ""
    percent: bool = False

    def inputs(self) -> list[Input]:
        out = [Input("value", self.variable + ("（%）" if self.percent else ""))]
        if self.scale == "reference":
            out.append(Input("reference", self.reference_label))
        return out

    def points_for(self, x: float) -> float:
        for band in self.bands:
            if band.contains(x):
                return band.points
        raise AssertionError("bands cover every value")  # pragma: no cover

    def compute(self, values: dict[str, Any]) -> Score:
        value = values.get("value")
        missing = [] if value is not None else [self.inputs()[0].label]
        if self.scale == "reference":
            reference = values.get("reference")
            if reference is None or reference <= 0:
                missing.append(self.reference_label)
            if missing:
                return Score(None, missing=missing)
            assert value is not None and reference is not None
            return Score(self.points_for(value / reference))
        if missing:
            return Score(None, missing=missing)
        assert value is not None
        return Score(self.points_for(value))

    def _bound(self, x: float) -> str:
        if self.scale == "reference":
            return "参照值" if x == 1 else f"{_fmt(x)}×参照值"
        return _fmt(x) + ("%" if self.percent else "")

    def describe(self) -> str:
        parts = []
        v = self.variable
        for b in sorted(self.bands, key=lambda b: -b.points):
            lo_op = "≤" if b.lo_incl else "<"
            hi_op = "≤" if b.hi_incl else "<"
            if b.lo == -INF:
                cond = f"{v} {hi_op} {self._bound(b.hi)}"
            elif b.hi == INF:
                cond = f"{v} {'≥' if b.lo_incl else '>'} {self._bound(b.lo)}"
            else:
                cond = f"{self._bound(b.lo)} {lo_op} {v} {hi_op} {self._bound(b.hi)}"
            parts.append(f"{cond} → {_fmt(b.points)} 分")
        out = "；".join(parts)
        if self.scale == "reference":
            out += f"（参照值：{self.reference_label}）"
        return out

    def details(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "variable": self.variable,
            "bands": [b.as_json() for b in sorted(self.bands, key=lambda b: b.lo)],
        }


@dataclass
class Step:
    step: float
    delta: float  # points per step (negative: deducted)
    unit: str = ""


@dataclass
class LinearRule(Rule):
    kind: str = "linear"
    base: float | None = None  # None: the base value is entered as the reference
    base_points: float = 0.0
    up: Step | None = None
    down: Step | None = None
    cap: float = INF
    floor: float = 0.0
    reference_label: str = ""
    candidates: list[tuple[str, float]] = field(default_factory=list)
    bonus_per: float | None = None
    bonus_points: float = 0.0
    bonus_label: str = ""
    percent: bool = False

    def inputs(self) -> list[Input]:
        out = [Input("value", "实际值" + ("（%）" if self.percent else ""))]
        if self.base is None:
            hint = "；".join(f"{label}：{_fmt(v)}" for label, v in self.candidates)
            out.append(Input("reference", self.reference_label, hint=hint))
        if self.bonus_per is not None:
            out.append(Input("bonus", f"{self.bonus_label}（人数）", required=False))
        return out

    def _points(self, value: float, base: float, whole: bool) -> float:
        points = self.base_points
        diff = value - base
        for step, amount in ((self.up, diff), (self.down, -diff)):
            if step is None or amount <= _eps(base):
                continue
            steps = amount / step.step
            if whole:
                steps = math.floor(steps + 1e-9)
            points += step.delta * steps
        return points

    def compute(self, values: dict[str, Any]) -> Score:
        value = values.get("value")
        base = self.base if self.base is not None else values.get("reference")
        missing = []
        if value is None:
            missing.append(self.inputs()[0].label)
        if base is None:
            missing.append(self.reference_label)
        if missing:
            return Score(None, missing=missing)
        assert value is not None and base is not None
        bonus = 0.0
        upper = None
        if self.bonus_per is not None:
            count = values.get("bonus")
            if count is None:
                upper = self.cap
            else:
                bonus = self.bonus_points * math.floor(count / self.bonus_per + 1e-9)

        def clamp(x: float) -> float:
            return _round(min(self.cap, max(self.floor, x)))

        points = clamp(self._points(value, base, False) + bonus)
        whole = clamp(self._points(value, base, True) + bonus)
        alternatives = {"whole_steps": whole} if whole != points else {}
        if upper is not None:
            upper = max(points, _round(upper))
        return Score(points, upper=upper, alternatives=alternatives)

    def describe(self) -> str:
        pct = "%" if self.percent else ""
        base = (
            f"{_fmt(self.base)}{pct}"
            if self.base is not None
            else f"{self.reference_label}（录入参照值）"
        )
        parts = [f"基准 {base} 得 {_fmt(self.base_points)} 分"]
        for name, step in (("高", self.up), ("低", self.down)):
            if step is not None:
                verb = "加" if step.delta > 0 else "扣"
                unit = step.unit or pct
                parts.append(f"每{name} {_fmt(step.step)}{unit} {verb} {_fmt(abs(step.delta))} 分")
        if self.bonus_per is not None:
            parts.append(
                f"{self.bonus_label}每 {_fmt(self.bonus_per)} 人另加 {_fmt(self.bonus_points)} 分"
            )
        parts.append(f"最高 {_fmt(self.cap)} 分，最低 {_fmt(self.floor)} 分")
        return "；".join(parts)

    def details(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_points": self.base_points,
            "up": None if self.up is None else {"step": self.up.step, "points": self.up.delta},
            "down": None
            if self.down is None
            else {"step": self.down.step, "points": self.down.delta},
            "cap": None if self.cap == INF else self.cap,
            "floor": self.floor,
            "reference": self.reference_label if self.base is None else None,
            "candidates": [{"label": label, "value": v} for label, v in self.candidates],
            "bonus": None
            if self.bonus_per is None
            else {"label": self.bonus_label, "per": self.bonus_per, "points": self.bonus_points},
        }


@dataclass
class Item:
    label: str
    per: float
    points: float


@dataclass
class ItemsRule(Rule):
    kind: str = "items"
    items: list[Item] = field(default_factory=list)
    cap: float = INF

    def inputs(self) -> list[Input]:
        return [
            Input(f"item{i}", f"{item.label}（数量）", required=False)
            for i, item in enumerate(self.items, start=1)
        ]

    def compute(self, values: dict[str, Any]) -> Score:
        counts = [values.get(f"item{i}") for i in range(1, len(self.items) + 1)]
        if all(c is None for c in counts):
            return Score(None, missing=[i.label for i in self.inputs()])
        total = sum(
            item.points * math.floor((c or 0) / item.per + 1e-9)
            for item, c in zip(self.items, counts, strict=True)
        )
        return Score(_round(min(self.cap, total)))

    def describe(self) -> str:
        parts = [
            f"{item.label}：每{'' if item.per == 1 else _fmt(item.per)}个 {_fmt(item.points)} 分"
            for item in self.items
        ]
        parts.append(f"合计最高 {_fmt(self.cap)} 分")
        return "；".join(parts)

    def details(self) -> dict[str, Any]:
        return {
            "items": [{"label": i.label, "per": i.per, "points": i.points} for i in self.items],
            "cap": None if self.cap == INF else self.cap,
        }


@dataclass
class ProportionalRule(Rule):
    kind: str = "proportional"
    full: float = 0.0
    metrics: list[str] = field(default_factory=list)

    def inputs(self) -> list[Input]:
        out = []
        for i, label in enumerate(self.metrics, start=1):
            suffix = "" if i == 1 else str(i)
            required = len(self.metrics) == 1
            out.append(Input(f"value{suffix}", f"本校{label}", required=required))
            out.append(Input(f"reference{suffix}", f"{label}最高值（参照）", required=required))
        return out

    def compute(self, values: dict[str, Any]) -> Score:
        results = []
        for i in range(1, len(self.metrics) + 1):
            suffix = "" if i == 1 else str(i)
            v, best = values.get(f"value{suffix}"), values.get(f"reference{suffix}")
            if v is None or best is None or best <= 0:
                continue
            results.append(_round(min(self.full, max(0.0, self.full * v / best))))
        if not results:
            return Score(None, missing=[i.label for i in self.inputs()])
        points = max(results)
        upper = points if len(results) == len(self.metrics) else max(points, self.full)
        return Score(points, upper=upper)

    def describe(self) -> str:
        which = "、".join(self.metrics)
        more = "，取高分" if len(self.metrics) > 1 else ""
        return f"按比例：{_fmt(self.full)} 分 × 本校值 ÷ 最高值（{which}）{more}"

    def details(self) -> dict[str, Any]:
        return {"full": self.full, "metrics": self.metrics}


@dataclass
class SchemesRule(Rule):
    kind: str = "schemes"
    schemes: dict[str, BandsRule] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def inputs(self) -> list[Input]:
        first = next(iter(self.schemes.values()))
        return [
            Input("scheme", "适用口径", kind="choice", choices=tuple(self.schemes)),
            Input("value", first.inputs()[0].label),
        ]

    def compute(self, values: dict[str, Any]) -> Score:
        scheme = values.get("scheme")
        if scheme not in self.schemes:
            missing = ["适用口径（" + "/".join(self.schemes) + "）"]
            if values.get("value") is None:
                missing.append("实际值")
            return Score(None, missing=missing)
        return self.schemes[scheme].compute(values)

    def describe(self) -> str:
        return "｜".join(
            f"{name}（{self.labels[name]}）：{r.describe()}" for name, r in self.schemes.items()
        )

    def details(self) -> dict[str, Any]:
        return {
            "schemes": {
                name: {"label": self.labels[name], **r.details()}
                for name, r in self.schemes.items()
            }
        }


# -- parsing ---------------------------------------------------------------------------------

_QUALITATIVE_RE = re.compile(r"定性评价|专家[^。]*?(?:综合判断|评定|评议)")
_STEP_RE = re.compile(
    r"每(?P<dir>高于|高出|超过|超出|多于|高|多|低于|少于|低|少)(?P<what>[^\d,;。]{0,12}?)"
    rf"(?P<step>{_NUM})(?P<unit>%|元/生|万元|元|个|人|项|篇)?,?"
    rf"(?P<verb>增加|加|减少|减|扣除|扣|降低)(?P<pts>{_NUM})分"
)
_BONUS_RE = re.compile(
    rf"(?P<label>[^,;。:]*?),?每(?P<per>{_NUM})(?P<unit>人|个|项|次|门|篇)另加(?P<pts>{_NUM})分"
)
_CAP_RE = re.compile(rf"(?:最高|总分不超过|最多|不超过)(?:可以得|可得|得)?(?P<pts>{_NUM})分")
_FLOOR_RE = re.compile(rf"最低(?:可以得|可得|得)?(?P<pts>{_NUM})分")
_POINTS_RE = re.compile(rf"(?:可以|可)?得(?P<pts>{_NUM})分")
_BAND_MARK_RE = re.compile(rf"不得分|(?:可以|可)?得(?P<pts>{_NUM})分")
_ITEMS_HINT_RE = re.compile(r"每(?:新增)?(?:一|1)?(?:个|项|篇|部|门)|每项")
_ITEM_MARK_RE = re.compile(rf"(?:每项|每个)?(?:可以|可)?得(?P<pts>{_NUM})分")
_BEST_RE = re.compile(
    rf"(?P<label>[^,;。]*?)最(?:多|高|大)的(?:高校|学校|院校)得满分(?P<pts>{_NUM})分"
)
_SCHEME_RE = re.compile(r"(?P<name>公办|民办)[^:;。]{0,30}:")
_TOKEN_RE = re.compile(
    r"(?P<ref>所在(?:规划)?学校(?:的)?(?:平均)?水平(?:的(?P<mult>\d+(?:\.\d+)?)倍)?)"
    r"|(?P<op>[≥≤<>=])"
    r"|(?P<num>(?<![\d.])-?\d+(?:\.\d+)?)(?P<pct>%)?"
)
_FLIP = {"≥": "≤", "≤": "≥", ">": "<", "<": ">", "=": "="}
_CANDIDATE_RE = re.compile(rf"(?P<label>[^,;。:]*?)达(?P<a>{_NUM})(?::(?P<b>{_NUM}))?")


def _preceded_by(t: str, pos: int, words: tuple[str, ...]) -> bool:
    return any(t[max(0, pos - len(w)) : pos] == w for w in words)


def parse_rule(text: str, max_points: float | None = None) -> Rule:
    """The rule a 计分方法 text states (see the module docstring); never raises."""
    raw = text or ""
    t = normalize(raw)
    if not t:
        return NoRule(raw, max_points)
    if _QUALITATIVE_RE.search(t) and not _POINTS_RE.search(t):
        return QualitativeRule(raw, max_points)
    try:
        if _STEP_RE.search(t):
            return _parse_linear(raw, t, max_points)
        if "按比例" in t and _BEST_RE.search(t):
            return _parse_proportional(raw, t, max_points)
        if _ITEMS_HINT_RE.search(t) and not re.search(r"[≥≤<>]", t):
            return _parse_items(raw, t, max_points)
        if len(_SCHEME_RE.findall(t)) >= 2:
            return _parse_schemes(raw, t, max_points)
        if _BAND_MARK_RE.search(t):
            return _parse_bands(raw, t, max_points)
    except RuleError as e:
        return UnparsedRule(raw, max_points, reason=str(e))
    if _QUALITATIVE_RE.search(t):
        return QualitativeRule(raw, max_points)
    return UnparsedRule(raw, max_points, reason="未识别出阈值、逐级加减分、计数或比例规则")


def _tokens(segment: str) -> list[tuple[str, Any, int, int, bool]]:
    out: list[tuple[str, Any, int, int, bool]] = []
    for m in _TOKEN_RE.finditer(segment):
        if m.group("ref"):
            mult = float(m.group("mult")) if m.group("mult") else 1.0
            out.append(("ref", mult, m.start(), m.end(), False))
        elif m.group("op"):
            out.append(("op", m.group("op"), m.start(), m.end(), False))
        else:
            out.append(("num", float(m.group("num")), m.start(), m.end(), bool(m.group("pct"))))
    return out


def _bounds(segment: str) -> tuple[list[tuple[str, str, float]], bool]:
    """[(op, 'num'|'ref', value)] read from comparisons in the segment, and whether a % was seen."""
    toks = _tokens(segment)
    out = []
    percent = False
    for i, (kind, value, start, end, _) in enumerate(toks):
        if kind != "op":
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        prv = toks[i - 1] if i > 0 else None
        if nxt is not None and nxt[0] in ("num", "ref") and nxt[2] == end:
            out.append((value, nxt[0], nxt[1]))
            percent = percent or nxt[4]
        elif prv is not None and prv[0] in ("num", "ref") and prv[3] == start:
            out.append((_FLIP[value], prv[0], prv[1]))
            percent = percent or prv[4]
        else:
            raise RuleError(f"比较符“{value}”旁没有数值：{segment}")
    return out, percent


def _interval(bounds: list[tuple[str, str, float]], points: float) -> Band:
    lo, lo_incl, hi, hi_incl = -INF, False, INF, False
    for op, _, v in bounds:
        if op in ("≥", ">"):
            if v > lo or (v == lo and op == ">"):
                lo, lo_incl = v, op == "≥"
        elif op in ("≤", "<"):
            if v < hi or (v == hi and op == "<"):
                hi, hi_incl = v, op == "≤"
        else:  # =
            lo, lo_incl, hi, hi_incl = v, True, v, True
    return Band(lo, lo_incl, hi, hi_incl, points)


def _check_cover(bands: list[Band]) -> None:
    ordered = sorted(bands, key=lambda b: (b.lo, not b.lo_incl))
    if ordered[0].lo != -INF:
        raise RuleError(f"低于 {_fmt(ordered[0].lo)} 的值没有对应分数")
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.hi != b.lo or a.hi_incl == b.lo_incl:
            raise RuleError(f"区间在 {_fmt(a.hi)} 与 {_fmt(b.lo)} 之间有缺口或重叠")
    if ordered[-1].hi != INF:
        raise RuleError(f"高于 {_fmt(ordered[-1].hi)} 的值没有对应分数")


def _variable(t: str) -> str:
    for word in ("差值", "占比", "生师比", "比例"):
        if word in t:
            return word
    return "实际值"


def _bands_from(raw: str, t: str, max_points: float | None) -> BandsRule:
    bands: list[Band] = []
    notes: list[str] = []
    scales: set[str] = set()
    percent = False
    start = 0
    for m in _BAND_MARK_RE.finditer(t):
        segment = t[start : m.start()]
        start = m.end()
        points = float(m.group("pts")) if m.group("pts") else 0.0
        bounds, pct = _bounds(segment)
        percent = percent or pct
        if not bounds:
            clause = segment.strip(",;。:")
            if not clause or re.search(r"\d", clause):
                raise RuleError(f"“{clause or m.group(0)}”没有可识别的条件")
            notes.append(f"{clause}，得 {_fmt(points)} 分")
            continue
        scales |= {kind for _, kind, _ in bounds}
        bands.append(_interval(bounds, points))
    if not bands:
        raise RuleError("没有可识别的阈值")
    if len(scales) > 1:
        raise RuleError("阈值混用了绝对数值和“所在规划学校水平”的倍数")
    _check_cover(bands)
    rest = t[start:].strip(",;。")
    if rest:
        notes.append(rest)
    scale = "reference" if scales == {"ref"} else "absolute"
    reference_label = ""
    if scale == "reference":
        reference_label = "所在规划学校平均水平" if "平均水平" in t else "所在规划学校水平"
    return BandsRule(
        raw,
        max_points,
        notes=notes,
        bands=bands,
        scale=scale,
        variable=_variable(t),
        reference_label=reference_label,
        percent=percent,
    )


def _parse_bands(raw: str, t: str, max_points: float | None) -> BandsRule:
    return _bands_from(raw, t, max_points)


def _parse_schemes(raw: str, t: str, max_points: float | None) -> SchemesRule:
    matches = list(_SCHEME_RE.finditer(t))
    if t[: matches[0].start()].strip(",;。"):
        raise RuleError("分口径规则前还有无法归属的内容")
    schemes: dict[str, BandsRule] = {}
    labels: dict[str, str] = {}
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(t)
        name = m.group("name")
        if name in schemes:
            raise RuleError(f"口径“{name}”出现两次")
        labels[name] = m.group(0).rstrip(":")
        schemes[name] = _bands_from(raw, t[m.end() : end], max_points)
    return SchemesRule(raw, max_points, schemes=schemes, labels=labels)


def _strip_refs(text: str) -> str:
    """Without bracketed document numbers (教发(2004)2号) that are not values."""
    text = re.sub(r"\([^)]*\)|〔[^〕]*〕|\[[^\]]*\]", "", text)
    return re.sub(r"\d+号", "", text)


def _parse_linear(raw: str, t: str, max_points: float | None) -> LinearRule:
    up = down = None
    what = ""
    percent = False
    for m in _STEP_RE.finditer(t):
        direction = "up" if m.group("dir")[0] in "高超多" else "down"
        sign = 1 if m.group("verb") in ("增加", "加") else -1
        step = Step(float(m.group("step")), sign * float(m.group("pts")), m.group("unit") or "")
        percent = percent or step.unit == "%"
        what = what or m.group("what").strip()
        if direction == "up":
            if up is not None:
                raise RuleError("“每高…”出现了两次")
            up = step
        else:
            if down is not None:
                raise RuleError("“每低…”出现了两次")
            down = step
    caps = [float(m.group("pts")) for m in _CAP_RE.finditer(t)]
    floors = [float(m.group("pts")) for m in _FLOOR_RE.finditer(t)]
    cap = min(caps) if caps else (max_points if max_points is not None else INF)
    floor = max(floors) if floors else 0.0
    base_mark = None
    for m in _POINTS_RE.finditer(t):
        if _preceded_by(t, m.start(), ("最高", "最低", "最多", "满分", "不超过")):
            continue
        base_mark = m
        break
    if base_mark is None:
        raise RuleError("没有找到基准分（如“达到要求得1分”）")
    base_points = float(base_mark.group("pts"))
    clause_start = max(t.rfind("。", 0, base_mark.start()), t.rfind(";", 0, base_mark.start())) + 1
    clause = _strip_refs(t[clause_start : base_mark.start()])
    base: float | None = None
    candidates: list[tuple[str, float]] = []
    declared = re.search(rf"要求为(?P<v>{_NUM})(?P<pct>%)?", t)
    numbers = re.findall(rf"(?<![\d.])(-?{_NUM})(%)?", clause)
    if declared:
        base = float(declared.group("v"))
        percent = percent or bool(declared.group("pct"))
    elif len(numbers) == 1:
        base = float(numbers[0][0])
        percent = percent or bool(numbers[0][1])
    elif len(numbers) > 1:
        raise RuleError(f"基准条件“{clause}”中有多个数值")
    else:
        for m in _CANDIDATE_RE.finditer(_strip_refs(t)):
            value = float(m.group("a")) / (float(m.group("b")) if m.group("b") else 1.0)
            label = m.group("label").removeprefix("其中").strip(",:、")
            candidates.append((label, value))
        if len(candidates) == 1:
            base = candidates[0][1]
        elif not candidates:
            raise RuleError("没有找到基准值（如“≥20%”“年度要求为80%”）")
    bonus = _BONUS_RE.search(t)
    bonus_label = ""
    if bonus:
        bonus_label = re.sub(r"^(?:其中)?[,:]?", "", bonus.group("label")).rstrip("的,")
    reference_label = ""
    if base is None:
        named = [w for w in ("合格要求", "规定要求", "年度要求") if w in t]
        reference_label = what or (named[0] if named else "达标要求")
    return LinearRule(
        raw,
        max_points,
        base=base,
        base_points=base_points,
        up=up,
        down=down,
        cap=cap,
        floor=floor,
        reference_label=reference_label,
        candidates=candidates if base is None else [],
        bonus_per=float(bonus.group("per")) if bonus else None,
        bonus_points=float(bonus.group("pts")) if bonus else 0.0,
        bonus_label=bonus_label,
        percent=percent,
    )


def _parse_items(raw: str, t: str, max_points: float | None) -> ItemsRule:
    items: list[Item] = []
    notes: list[str] = []
    caps: list[float] = []
    start = 0
    for m in _ITEM_MARK_RE.finditer(t):
        segment = t[start : m.start()]
        start = m.end()
        if _preceded_by(t, m.start(), ("最高", "最多", "满分", "不超过")):
            caps.append(float(m.group("pts")))
            continue
        label = segment.strip(",;。:、")
        per_match = re.search(rf"每(?P<per>{_NUM})(?:个|项|人|篇|部|门)", label)
        per = float(per_match.group("per")) if per_match else 1.0
        label = re.sub(r"^每", "", label)
        label = re.sub(r"每(?:\d+(?:\.\d+)?)?(?:个|项|人|篇|部|门)?$", "", label)
        label = re.sub(r"(新增|获得?)(?:一|1)(?:个|项|篇|部|门)", r"\1", label)
        label = label.strip(",;。:、")
        if not label:
            raise RuleError("计分项没有名称")
        items.append(Item(label, per, float(m.group("pts"))))
    if not items:
        raise RuleError("没有找到计分项")
    rest = t[start:].strip(",;。")
    if rest:
        notes.append(rest)
    cap = min(caps) if caps else (max_points if max_points is not None else INF)
    return ItemsRule(raw, max_points, notes=notes, items=items, cap=cap)


def _parse_proportional(raw: str, t: str, max_points: float | None) -> ProportionalRule:
    metrics = []
    fulls = set()
    for m in _BEST_RE.finditer(t):
        metrics.append(m.group("label").strip(",;。:"))
        fulls.add(float(m.group("pts")))
    if len(fulls) != 1:
        raise RuleError("各项的满分不一致")
    if len(metrics) > 1 and not re.search(r"高分|较高|取高|最高者", t):
        raise RuleError("有多个按比例计分的指标，但没有说明如何合并")
    notes = [
        s
        for s in re.split(r"[;。]", t)
        if s and "按比例" not in s and "高分" not in s and s.strip()
    ]
    return ProportionalRule(raw, max_points, notes=notes, full=fulls.pop(), metrics=metrics)
