"""Read KPI tables (绩效指标完成情况表) from DOCX, XLSX, CSV, PDF or a text file with
tab-separated tables (as text extracted from a report), and parse their rows.

A KPI table is found by its header: a name column (三级指标 / 指标名称 / 绩效指标), a target
column (中期目标值 or 期满目标值) and an achieved or completion column (中期实现值 /
中期完成度 / 中期完成率). Header cells are compared without spaces and footnote marks, so
``期 满 目 标 值`` and ``中期目标值 <sup>1</sup>`` match. Every table (all DOCX tables, all
sheets, every header in a text file) is read.

Rows: a row whose name starts with a code (``1.1.5.1``, ``1.2.10.3``, ``2.1.1``) is a KPI. A
row without a code and with empty target cells continues the KPI above (a row broken over a
page: ``(个)`` and the rest of a sentence); a row without a code but with figures is not
imported and is listed as a warning. A code met twice keeps its first row (warning).

Category (数量/质量/时效/成本/经济效益/社会效益/生态效益/可持续影响/满意度): the category cell
when it names one (merged cells carry down, ``数 量 指 标`` is read without spaces), else the
category of the rows above in the same table; rows still without one (a category split into
``数`` / ``量指标`` over a page break) take the category most KPIs sharing their first two code
segments have (``1.2.8.1`` -> the ``1.2.*`` rows' 质量).

In a text file a line without a tab ends the table (captions, paragraphs); blank lines do not.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from evidence_app.frameworks import FrameworkImportError, RawTable, decode_csv_bytes, read_table
from evidence_app.kpi._errors import KpiImportError
from evidence_app.kpi._numbers import parse_figure, parse_percent

MAX_BYTES = 50 * 1024 * 1024

HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "code": ("编号", "指标编号", "代码", "指标代码"),
    "category": ("类型", "指标类型", "类别", "指标类别", "二级指标", "序号"),
    "name": ("三级指标", "指标名称", "绩效指标", "三级指标名称", "指标内容"),
    "final": ("期满目标值", "期满目标", "终期目标值", "建设期满目标值", "总目标值", "目标值"),
    "midterm": ("中期目标值", "中期目标", "阶段目标值"),
    "achieved": ("中期实现值", "实现值", "完成值", "中期完成值", "实际完成值", "中期实际值"),
    "completion": ("中期完成度", "中期完成率", "完成度", "完成率", "完成比例", "中期完成比例"),
}

# Category keywords, in the order the tree shows them.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("数量", "数量"),
    ("质量", "质量"),
    ("时效", "时效"),
    ("成本", "成本"),
    ("经济效益", "经济效益"),
    ("社会效益", "社会效益"),
    ("生态效益", "生态效益"),
    ("可持续", "可持续影响"),
    ("满意", "满意度"),
)
CATEGORY_ORDER = tuple(c for _, c in CATEGORIES)

CODE_RE = re.compile(r"^\s*(\d{1,2}(?:\.\d{1,2}){2,3})(?![\d.])\s*[、．.]?\s*(.*)$", re.S)
_SUP_RE = re.compile(r"<sup>.*?</sup>", re.I | re.S)
_TAG_RE = re.compile(r"<[^>]+>")
_SEPARATOR_RE = re.compile(r"^[-—:|=+\s]+$")
_UNIT_TAIL_RE = re.compile(r"[（(]([^（()）]{1,20})[)）]\s*$")
_UNIT_RE = re.compile(
    r"^[%A-Za-z个项人次元万千亿套门本篇家所间份批节点日年月/或课时台件条部册期届名位种处座场支章户]+$"
)


@dataclass
class SourceTable:
    """Rows of one table as read; ``refs`` says where each row is (for the auditor)."""

    rows: list[list[str]]
    refs: list[str]
    text_lines: bool = False  # rows are lines of a text file


@dataclass
class KpiRow:
    code: str
    name: str
    unit: str = ""
    category: str = ""
    final_target: str = ""
    midterm_target: str = ""
    achieved_text: str = ""
    achieved_value: float | None = None
    completion_text: str = ""
    reported_completion: float | None = None  # percent
    source_ref: str = ""


@dataclass
class ParsedKpis:
    rows: list[KpiRow]
    warnings: list[str] = field(default_factory=list)
    tables: int = 0  # KPI headers found


# -- reading -------------------------------------------------------------------------------


def read_kpi_tables(path: Path | str, name: str | None = None) -> list[SourceTable]:
    """Every table of the file, as rows of cell text (format detected from the content)."""
    path = Path(path)
    name = name or path.name
    try:
        size = path.stat().st_size
    except OSError as e:
        raise KpiImportError(f"无法读取文件：{name}") from e
    if size == 0:
        raise KpiImportError(f"文件为空：{name}")
    if size > MAX_BYTES:
        raise KpiImportError(f"文件过大（{size // 1024 // 1024} MB），绩效指标表不应超过 50 MB")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK"):
        kind = _ooxml_kind(path)
        if kind == "docx":
            read_table(path, name)  # the shared reader's checks (broken file, no table)
            return _docx_tables(path, name)
        if kind == "xlsx":
            read_table(path, name)
            return _xlsx_tables(path, name)
    if head.startswith((b"%PDF", b"PK", b"\xd0\xcf\x11\xe0")) or Path(name).suffix.lower() in (
        ".docx",
        ".xlsx",
        ".doc",
        ".xls",
        ".pdf",
    ):
        # PDF tables, and the shared reader's messages for legacy, encrypted or broken files
        return [_from_raw(read_table(path, name))]
    text = decode_csv_bytes(path.read_bytes(), name)
    lines = text.splitlines()
    if sum(1 for line in lines if line.count("\t") >= 2) >= 3:
        # text with tab-separated tables: split on tabs (no CSV quoting inside prose)
        return [
            SourceTable(
                rows=[line.split("\t") for line in lines],
                refs=[f"第 {i} 行" for i in range(1, len(lines) + 1)],
                text_lines=True,
            )
        ]
    return [_from_raw(read_table(path, name))]


def _from_raw(table: RawTable) -> SourceTable:
    rows = table.rows
    if table.join_lines:  # PDF cells wrapped mid-word
        rows = [[c.replace("\n", "") for c in row] for row in rows]
    return SourceTable(rows=rows, refs=[f"第 {i} 行" for i in range(1, len(rows) + 1)])


def _ooxml_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError):
        return ""
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return ""


def _docx_tables(path: Path, name: str) -> list[SourceTable]:
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as e:  # read_table accepted it; keep the message anyway
        raise KpiImportError(f"Word 文档已损坏，无法读取：{name}") from e
    out: list[SourceTable] = []
    for k, table in enumerate(document.tables, start=1):
        # merged cells repeat their text in every grid cell they cover (carried down)
        rows = [["\n".join(p.text for p in c.paragraphs) for c in row.cells] for row in table.rows]
        refs = [f"表 {k} 第 {r} 行" for r in range(1, len(rows) + 1)]
        out.append(SourceTable(rows=rows, refs=refs))
    return out


def _xlsx_tables(path: Path, name: str) -> list[SourceTable]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(str(path), data_only=True)
    except Exception as e:
        raise KpiImportError(f"Excel 文件已损坏，无法读取：{name}（{type(e).__name__}）") from e
    out: list[SourceTable] = []
    try:
        for ws in wb.worksheets:
            rows: list[list[str]] = []
            for cells in ws.iter_rows():
                rows.append([_xlsx_cell(c) for c in cells])
                if len(rows) > 20_000:
                    break
            refs = [f"工作表“{ws.title}”第 {r} 行" for r in range(1, len(rows) + 1)]
            out.append(SourceTable(rows=rows, refs=refs))
    finally:
        wb.close()
    return out


def _xlsx_cell(cell) -> str:
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        fmt = str(cell.number_format or "")
        if "%" in fmt:
            # a percent-formatted cell shows what the reader sees: 2 -> 200%, 1.4433 -> 144%
            decimals = len(fmt.split(".", 1)[1].split("%", 1)[0]) if "." in fmt else 0
            return f"{value * 100:.{decimals}f}%"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value) if isinstance(value, float) else str(value)
    return str(value)


# -- parsing -------------------------------------------------------------------------------


def header_key(cell: str) -> str:
    text = _TAG_RE.sub("", _SUP_RE.sub("", cell or ""))
    text = re.sub(r"\s+", "", text)
    return re.sub(r"[\d¹²³⁴*※]+$", "", text)


def find_columns(cells: list[str]) -> dict[str, int] | None:
    """Column positions when the row is a KPI header, else None."""
    columns: dict[str, int] = {}
    for j, cell in enumerate(cells):
        key = header_key(cell)
        for name, aliases in HEADER_NAMES.items():
            if name not in columns and key in aliases:
                columns[name] = j
                break
    if (
        "name" in columns
        and ("midterm" in columns or "final" in columns)
        and ("achieved" in columns or "completion" in columns)
    ):
        return columns
    return None


def category_of(text: str) -> str:
    t = re.sub(r"\s+", "", text or "")
    for keyword, category in CATEGORIES:
        if keyword in t:
            return category
    return ""


def split_name_unit(text: str) -> tuple[str, str]:
    """'建设…职教集团（联盟）（个）' -> ('建设…职教集团（联盟）', '个'); no unit -> ('…', '')."""
    name = re.sub(r"\s+", " ", text or "").strip()
    m = _UNIT_TAIL_RE.search(name)
    if not m:
        return name, ""
    unit = re.split(r"[,，、;；]", m.group(1))[-1].strip()
    if not unit or not _UNIT_RE.match(unit.replace(" ", "")):
        return name, ""
    inner = m.group(1)
    rest = name[: m.start()].rstrip()
    if unit != inner.strip():  # '（含素质数据平台，个）': keep the remark in the name
        remark = inner[: inner.rfind(unit)].rstrip(" ,，、;；")
        rest = f"{rest}（{remark}）"
    return rest, unit.replace(" ", "")


def _clean(cell: str) -> str:
    text = _TAG_RE.sub("", _SUP_RE.sub("", cell or ""))
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


@dataclass
class _Building:
    row: KpiRow
    name: str
    achieved: str
    completion: str


def parse_kpi_tables(tables: list[SourceTable]) -> ParsedKpis:
    """KPI rows of every table (see the module docstring for the rules)."""
    out: list[_Building] = []
    seen: dict[str, str] = {}
    warnings: list[str] = []
    headers = 0
    for table in tables:
        columns: dict[str, int] | None = None
        carry = ""
        current: _Building | None = None
        for raw, ref in zip(table.rows, table.refs, strict=False):
            cells = [_clean(c) for c in raw]
            if not any(cells):
                continue
            found = find_columns(cells)
            if found is not None:
                columns, carry = found, ""
                headers += 1
                continue
            if columns is None:
                continue
            if table.text_lines and len(raw) <= 1:
                columns, current = None, None  # a caption or paragraph ends the table
                continue
            if all(_SEPARATOR_RE.match(c) for c in cells if c):
                continue

            def get(key: str, cells: list[str] = cells, columns: dict[str, int] = columns) -> str:
                j = columns.get(key)
                return cells[j] if j is not None and j < len(cells) else ""

            name_cell = get("name")
            code = ""
            rest = name_cell
            if "code" in columns:
                m = CODE_RE.match(get("code"))
                code = m.group(1) if m else ""
            else:
                m = CODE_RE.match(name_cell)
                if m:
                    code, rest = m.group(1), m.group(2)
            category = category_of(get("category")) if "category" in columns else ""
            if category:
                carry = category
            final, midterm = get("final"), get("midterm")
            achieved, completion = get("achieved"), get("completion")
            if not code:
                if not final and not midterm and current is not None:
                    # the rest of the row above, broken over a page
                    current.name += rest.replace("\n", "")
                    current.achieved += achieved.replace("\n", "")
                    current.completion = current.completion or completion
                    continue
                if final or midterm or achieved or completion:
                    label = re.sub(r"\s+", "", rest)[:30] or "（无名称）"
                    warnings.append(f"{ref}：“{label}”没有指标编号，未导入")
                current = None
                continue
            if code in seen:
                warnings.append(f"{ref}：编号 {code} 重复（首次出现在{seen[code]}），本行未导入")
                current = None
                continue
            seen[code] = ref
            row = KpiRow(
                code=code,
                name="",
                category=category or carry,
                final_target=_one_line(final),
                midterm_target=_one_line(midterm),
                source_ref=ref,
            )
            current = _Building(row, rest.replace("\n", ""), achieved, completion)
            out.append(current)
    if headers == 0:
        raise KpiImportError(
            "未找到绩效指标表头：需要“三级指标”列、“中期目标值”或“期满目标值”列，"
            "以及“中期实现值”或“中期完成度（率）”列"
        )
    rows: list[KpiRow] = []
    for b in out:
        row = b.row
        row.name, row.unit = split_name_unit(b.name)
        row.achieved_text = _one_line(b.achieved)
        figure = parse_figure(row.achieved_text)
        row.achieved_value = figure.value if figure is not None else None
        row.completion_text = _one_line(b.completion)
        row.reported_completion = parse_percent(row.completion_text)[0]
        rows.append(row)
    if not rows:
        raise KpiImportError("表格中没有带编号的绩效指标行（三级指标应以编号开头，如“1.1.5.1 …”）")
    _fill_categories(rows)
    return ParsedKpis(rows=rows, warnings=warnings, tables=headers)


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", "", text or "").strip()


def _fill_categories(rows: list[KpiRow]) -> None:
    by_prefix: dict[str, Counter[str]] = {}
    for r in rows:
        if r.category:
            by_prefix.setdefault(_prefix2(r.code), Counter())[r.category] += 1
    for r in rows:
        if not r.category:
            counts = by_prefix.get(_prefix2(r.code))
            if counts:
                r.category = counts.most_common(1)[0][0]


def _prefix2(code: str) -> str:
    return ".".join(code.split(".")[:2])


def parse_kpi_file(path: Path | str, name: str | None = None) -> ParsedKpis:
    """Read and parse every KPI table of a file."""
    try:
        tables = read_kpi_tables(path, name)
    except KpiImportError:
        raise
    except FrameworkImportError as e:
        raise KpiImportError(str(e)) from e
    return parse_kpi_tables(tables)
