"""Turn raw table rows into an indicator tree with a catalog, recording the table's mistakes.

Record, never repair: entries numbered for another indicator, a dot for a dash, the same code
twice and alternatives sharing a code are kept as written and listed as anomalies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from evidence_app.frameworks._errors import FrameworkImportError
from evidence_app.frameworks._header import COLUMNS, find_header, norm_header
from evidence_app.frameworks._read import RawTable, clean_cell

# Column name -> the names (and common variants) it goes by in real tables.

# An evidence-entry code: 2.3.4-1, 2.3.6-7-2; or the dot-for-dash mistake 2.3.4.4.
# The first part has one or two digits and nothing numeric before it, so 2022.1.5 or
# 〔2022〕24号, (2019)134号, 2020-2022级 and 2035年 are never taken for codes.
ENTRY_CODE_RE = re.compile(
    r"(?<![\d.\-])(\d{1,2}(?:\.\d{1,2}){2}(?:-\d{1,3})+|\d{1,2}(?:\.\d{1,2}){3})(?![\d.])"
)
INDICATOR_LABEL_RE = re.compile(r"^\s*(\d{1,2}(?:\s*\.\s*\d{1,2})*)\s*\.?\s*(.*)$", re.S)
POINTS_RE = re.compile(r"[（(]([^（()）]*?)(\d+(?:\.\d+)?)\s*分\s*[)）]\s*$")
SCORE_RE = re.compile(r"^-?\d+(?:\.\d+)?$")


@dataclass
class ParsedEntry:
    code: str
    title: str
    occurrence: int = 0  # 0 for the first time this code appears under this indicator


@dataclass
class ParsedIndicator:
    level: int
    code: str
    name: str
    max_points: float | None = None
    unit: str = ""
    description: str = ""
    scoring_rule: str = ""
    self_score: float | None = None
    row_number: str = ""
    remarks: str = ""
    department: str = ""
    owner: str = ""
    due_date: date | None = None
    variant: int = 0
    parent_code: str = ""
    entries: list[ParsedEntry] = field(default_factory=list)
    children: list[ParsedIndicator] = field(default_factory=list)


@dataclass
class Anomaly:
    kind: str  # misnumbered_entry | duplicate_entry_code | alternative_indicators
    code: str
    indicator: str
    detail: str


@dataclass
class ParsedFramework:
    title: str
    roots: list[ParsedIndicator]
    anomalies: list[Anomaly]
    warnings: list[str]

    def walk(self) -> list[ParsedIndicator]:
        out: list[ParsedIndicator] = []

        def visit(node: ParsedIndicator) -> None:
            out.append(node)
            for child in node.children:
                visit(child)

        for root in self.roots:
            visit(root)
        return out

    @property
    def leaves(self) -> list[ParsedIndicator]:
        return [n for n in self.walk() if n.level == 3]


def split_label(text: str) -> tuple[str, str, float | None, str]:
    """'1.1.1 专业设置…（单位：% ，2分）' -> ('1.1.1', '专业设置…', 2.0, '%')."""
    text = re.sub(r"\s+", " ", text).strip()
    m = INDICATOR_LABEL_RE.match(text)
    code, rest = ("", text)
    if m and m.group(1):
        code = re.sub(r"\s", "", m.group(1))
        rest = m.group(2).strip()
    points: float | None = None
    unit = ""
    pm = POINTS_RE.search(rest)
    if pm:
        points = float(pm.group(2))
        prefix = pm.group(1)
        um = re.search(r"单位\s*[:：]\s*(.*?)\s*[,，;；、]?\s*$", prefix)
        if um:
            unit = um.group(1).strip()
        rest = rest[: pm.start()].strip()
    return code, rest, points, unit


def split_catalog(text: str) -> tuple[list[tuple[str, str]], str]:
    """Catalog cell -> [(code, title)], plus any text before the first code."""
    matches = list(ENTRY_CODE_RE.finditer(text))
    if not matches:
        return [], text.strip()
    lead = text[: matches[0].start()].strip()
    entries: list[tuple[str, str]] = []
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        title = re.sub(r"\s+", " ", text[m.end() : end]).strip(" \t\n;；,，、")
        entries.append((m.group(1), title))
    return entries, lead


def code_key(code: str) -> tuple[Any, ...]:
    """Natural order of codes: 2.3.4-2 before 2.3.4-10, 2.3.4 before 2.3.4-1."""
    return tuple(int(p) for p in re.findall(r"\d+", code)) + (code,)


def entry_indicator_code(code: str) -> str:
    """The indicator an entry code names: 2.3.4-1 -> 2.3.4; 2.3.4.4 (dot for dash) -> 2.3.4."""
    if "-" in code:
        return code.split("-", 1)[0]
    return code.rsplit(".", 1)[0]


def _parse_score(text: str, row_label: str, warnings: list[str]) -> float | None:
    text = text.strip().replace("分", "")
    if not text:
        return None
    if SCORE_RE.match(text):
        return float(text)
    warnings.append(f"{row_label}：自评得分“{text}”不是数字，已忽略")
    return None


def _parse_date(text: str) -> date | None:
    m = re.search(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})", text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def parse_table(table: RawTable) -> ParsedFramework:
    """Build the tree from rows: header by name, merged cells carried down, rows continued."""
    found = find_header(table.rows)
    if found is None:
        raise FrameworkImportError(
            "未找到表头：需要一行包含“三级指标”以及“序号、一级指标、二级指标、说明、计分方法、"
            "自评得分、佐证材料目录”中的至少三项"
        )
    header_index, cols = found
    warnings = list(table.warnings)

    def cell(row: list[str], key: str) -> str:
        j = cols.get(key)
        if j is None or j >= len(row):
            return ""
        return clean_cell(row[j], table.join_lines)

    # 1. Merge continuation rows (a row split over a PDF page break or a wrapped CSV row).
    records: list[dict[str, str]] = []
    for i, row in enumerate(table.rows[header_index + 1 :], start=header_index + 2):
        values = {key: cell(row, key) for key in cols}
        if not any(values.values()):
            continue
        if norm_header(values.get("level3", "")) in COLUMNS["level3"]:
            continue  # a header repeated on each page
        if not values.get("level3") and not values.get("number") and records:
            prev = records[-1]
            sep = "" if table.join_lines else "\n"
            for key, value in values.items():
                if value and key not in ("level1", "level2"):
                    prev[key] = (prev.get(key, "") + sep + value).strip()
            continue
        values["_row"] = str(i)
        records.append(values)

    # 2. Build the tree, carrying merged level-1/level-2 cells down.
    roots: list[ParsedIndicator] = []
    by_code: dict[str, ParsedIndicator] = {}
    level3_seen: dict[str, list[ParsedIndicator]] = {}
    anomalies: list[Anomaly] = []
    current1: ParsedIndicator | None = None
    current2: ParsedIndicator | None = None
    for rec in records:
        label = f"第 {rec['_row']} 行"
        l1, l2, l3 = rec.get("level1", ""), rec.get("level2", ""), rec.get("level3", "")
        if l1:
            code, name, points, unit = split_label(l1)
            if current1 is None or code != current1.code:
                current1 = by_code.get(code) if code else None
                if current1 is None:
                    current1 = ParsedIndicator(1, code, name, points, unit)
                    roots.append(current1)
                    if code:
                        by_code[code] = current1
                current2 = None
        if l2:
            code, name, points, unit = split_label(l2)
            if current2 is None or code != current2.code:
                existing = by_code.get(code) if code else None
                if existing is None:
                    current2 = ParsedIndicator(2, code, name, points, unit)
                    parent = current1 or _implied_parent(code, by_code)
                    if parent is None:
                        warnings.append(f"{label}：二级指标“{l2}”没有一级指标，已跳过")
                        continue
                    current2.parent_code = parent.code
                    parent.children.append(current2)
                    if code:
                        by_code[code] = current2
                else:
                    current2 = existing
        if not l3:
            warnings.append(f"{label}：没有三级指标，已跳过")
            continue
        code, name, points, unit = split_label(l3)
        if not code:
            warnings.append(f"{label}：三级指标“{l3[:30]}”没有编号，已跳过")
            continue
        parent = current2 or _implied_parent(code, by_code)
        if parent is None:
            warnings.append(f"{label}：三级指标 {code} 没有所属的二级指标，已跳过")
            continue
        node = ParsedIndicator(
            level=3,
            code=code,
            name=name,
            max_points=points,
            unit=unit,
            description=rec.get("description", ""),
            scoring_rule=rec.get("scoring_rule", ""),
            self_score=_parse_score(rec.get("self_score", ""), label, warnings),
            row_number=rec.get("number", ""),
            remarks=rec.get("remarks", ""),
            department=rec.get("department", ""),
            owner=rec.get("owner", ""),
            due_date=_parse_date(rec.get("due_date", "")),
            parent_code=parent.code,
        )
        siblings = level3_seen.setdefault(code, [])
        node.variant = len(siblings)
        siblings.append(node)
        if parent.code and not code.startswith(parent.code + "."):
            warnings.append(f"{label}：三级指标 {code} 不属于二级指标 {parent.code}")
        entries, lead = split_catalog(rec.get("catalog", ""))
        if lead:
            warnings.append(f"{label}：佐证材料目录开头的“{lead[:20]}”没有编号，未作为条目导入")
        seen: dict[str, int] = {}
        for entry_code, title in entries:
            occurrence = seen.get(entry_code, 0)
            seen[entry_code] = occurrence + 1
            node.entries.append(ParsedEntry(entry_code, title, occurrence))
        parent.children.append(node)

    parsed = ParsedFramework(
        title=table.title.strip(), roots=roots, anomalies=anomalies, warnings=warnings
    )
    if not parsed.leaves:
        raise FrameworkImportError("表格中没有可识别的三级指标行（需要以编号开头，如“1.1.1 …”）")
    anomalies.extend(_find_anomalies(parsed, level3_seen))
    return parsed


def _implied_parent(code: str, by_code: dict[str, ParsedIndicator]) -> ParsedIndicator | None:
    while "." in code:
        code = code.rsplit(".", 1)[0]
        if code in by_code:
            return by_code[code]
    return None


def _find_anomalies(
    parsed: ParsedFramework, level3: dict[str, list[ParsedIndicator]]
) -> list[Anomaly]:
    out: list[Anomaly] = []
    for code, rows in level3.items():
        if len(rows) > 1:
            names = "；".join(r.name for r in rows)
            out.append(
                Anomaly(
                    "alternative_indicators",
                    code,
                    code,
                    f"{len(rows)} 行三级指标共用编号 {code}（二选一）：{names}",
                )
            )
    owners: dict[str, list[tuple[str, int]]] = {}
    for node in parsed.leaves:
        for entry in node.entries:
            owners.setdefault(entry.code, []).append((node.code, node.variant))
            named = entry_indicator_code(entry.code)
            if "-" not in entry.code:
                out.append(
                    Anomaly(
                        "misnumbered_entry",
                        entry.code,
                        node.code,
                        f"条目编号 {entry.code} 用了“.”而不是“-”（应为 {named}-{entry.code.rsplit('.', 1)[1]}），"
                        f"列在 {node.code} 下",
                    )
                )
            elif named != node.code:
                where = "不存在的指标" if named not in level3 else "另一个指标"
                out.append(
                    Anomaly(
                        "misnumbered_entry",
                        entry.code,
                        node.code,
                        f"条目编号 {entry.code} 属于{where} {named}，却列在 {node.code} 下",
                    )
                )
    for code, places in owners.items():
        # alternatives (公办/民办 rows of one code) may list the same entries once each
        alternatives = len({c for c, _ in places}) == 1 and len(set(places)) == len(places)
        if len(places) > 1 and not alternatives:
            indicators = [c for c, _ in places]
            where = "、".join(indicators)
            out.append(
                Anomaly(
                    "duplicate_entry_code",
                    code,
                    indicators[-1],
                    f"条目编号 {code} 在本指标体系中出现 {len(indicators)} 次（{where}）",
                )
            )
    return out
