"""Framework table import: exact figures on the fixture tables and on layouts built here."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence_app.frameworks import (
    FrameworkImportError,
    parse_framework_file,
    split_catalog,
    split_label,
)
from storage import AuditLog, CatalogEntry, Framework, ImportAnomaly, Indicator

FIXTURE = "A类规划自评打分表"
HEADER = [
    "序号",
    "一级指标",
    "二级指标",
    "三级指标",
    "说明",
    "计分方法",
    "自评得分",
    "佐证材料目录",
]

MISNUMBERED = [f"1.1.4-{i}" for i in range(1, 15)] + [
    "2.2.2-3",
    "2.3.4.4",
    "3.1.3-2",
    "3.2.2-1",
    "3.2.3-2",
]
DUPLICATES = ["2.2.2-3", "3.2.2-1", "3.2.3-2"]


# The fixture files leave the catalog cells of 4.2.2 and 4.3.1 empty; the seed text has
# those 18 entries (as <p> paragraphs), so tables built here from the seed have 247.
SEED_ENTRIES = 247


def assert_fixture_figures(parsed, entries: int = 229) -> None:
    """The exact figures of the seed self-assessment table, whatever the file format."""
    nodes = parsed.walk()
    assert Counter(n.level for n in nodes) == {1: 4, 2: 18, 3: 53}
    leaves = parsed.leaves
    assert len({n.code for n in leaves}) == 51
    assert [(r.code, r.max_points) for r in parsed.roots] == [
        ("1", 20),
        ("2", 45),
        ("3", 25),
        ("4", 10),
    ]
    assert sum(r.max_points for r in parsed.roots) == 100
    assert sum(len(n.entries) for n in leaves) == entries
    assert round(sum(n.self_score or 0 for n in leaves), 2) == 92.7
    kinds = Counter(a.kind for a in parsed.anomalies)
    assert kinds == {
        "misnumbered_entry": 19,
        "duplicate_entry_code": 3,
        "alternative_indicators": 2,
    }
    assert [a.code for a in parsed.anomalies if a.kind == "misnumbered_entry"] == MISNUMBERED
    assert (
        sorted(a.code for a in parsed.anomalies if a.kind == "duplicate_entry_code") == DUPLICATES
    )
    assert [a.code for a in parsed.anomalies if a.kind == "alternative_indicators"] == [
        "4.1.1",
        "4.3.1",
    ]
    misplaced = {a.code: a.indicator for a in parsed.anomalies if a.kind == "misnumbered_entry"}
    assert misplaced["1.1.4-7"] == "1.4.1"
    assert misplaced["2.2.2-3"] == "2.1.2"
    assert misplaced["3.2.2-1"] == "3.2.1"
    assert misplaced["3.2.3-2"] == "3.2.2"
    assert misplaced["3.1.3-2"] == "3.1.2"
    first = leaves[0]
    assert (first.code, first.name, first.max_points, first.unit, first.self_score) == (
        "1.1.1",
        "专业设置与区域重点产业匹配度",
        2.0,
        "%",
        2.0,
    )
    assert [e.code for e in first.entries] == [f"1.1.1-{i}" for i in range(1, 12)]
    alt = [n for n in leaves if n.code == "4.1.1"]
    assert [(n.variant, n.self_score, len(n.entries)) for n in alt] == [(0, 3.0, 4), (1, None, 0)]
    assert not parsed.warnings


@pytest.mark.parametrize("ext", ["docx", "xlsx", "pdf"])
def test_fixture_tables_give_exact_figures(framework_fixtures: Path, ext: str) -> None:
    parsed = parse_framework_file(framework_fixtures / f"{FIXTURE}.{ext}")
    assert_fixture_figures(parsed)


def test_pdf_rendition_reads_the_same_text_as_docx(framework_fixtures: Path) -> None:
    docx = parse_framework_file(framework_fixtures / f"{FIXTURE}.docx")
    pdf = parse_framework_file(framework_fixtures / f"{FIXTURE}.pdf")

    def squash(s: str) -> str:
        return "".join(s.split())

    for a, b in zip(docx.leaves, pdf.leaves, strict=True):
        assert (a.code, a.name, a.max_points, a.self_score) == (
            b.code,
            b.name,
            b.max_points,
            b.self_score,
        )
        assert squash(a.scoring_rule) == squash(b.scoring_rule)
        assert [(e.code, squash(e.title)) for e in a.entries] == [
            (e.code, squash(e.title)) for e in b.entries
        ]


# -- cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("1. 扩容 (20分)", ("1", "扩容", 20.0, "")),
        ("3.强服务（25分）", ("3", "强服务", 25.0, "")),
        ("1.3办学条件 (2分)", ("1.3", "办学条件", 2.0, "")),
        (
            "1.2.2 高职扩招学生分类招生培养情况（5分）",
            ("1.2.2", "高职扩招学生分类招生培养情况", 5.0, ""),
        ),
        (
            "1.1.1 专业设置与区域重点产业匹配度（单位：% ，2分）",
            ("1.1.1", "专业设置与区域重点产业匹配度", 2.0, "%"),
        ),
        (
            "2.3.3企业提供的校内实践教学设备值(单位:万元,1.5分)",
            ("2.3.3", "企业提供的校内实践教学设备值", 1.5, "万元"),
        ),
        ("2.6.1应届毕业生当年创业率（单位：%、1分）", ("2.6.1", "应届毕业生当年创业率", 1.0, "%")),
        ("4.1.1公办学校生均财政拨款水平", ("4.1.1", "公办学校生均财政拨款水平", None, "")),
    ],
)
def test_split_label_reads_code_name_points_unit(label: str, expected: tuple) -> None:
    assert split_label(label) == expected


def test_catalog_split_in_one_run_of_text() -> None:
    text = (
        "2.3.4-1 2020-2022级企业订单学明细表(3108人) 2.3.4-2 校企合作“订单班”建设管理办法"
        "(粤工程职院发(2019)37号) 2.3.4.4 2022年普通高职在校生人数(21049人)"
        "2.1.1-2中共广东省委教育工委关于公布名单的通知(粤教工委组函3号)"
        " 1.1.1-7 规划和2035年远景目标纲要（粤府〔2021〕28号） 2.3.6-2-1 会议纪要(2022年第12期)"
    )
    entries, lead = split_catalog(text)
    assert lead == ""
    assert entries == [
        ("2.3.4-1", "2020-2022级企业订单学明细表(3108人)"),
        ("2.3.4-2", "校企合作“订单班”建设管理办法(粤工程职院发(2019)37号)"),
        ("2.3.4.4", "2022年普通高职在校生人数(21049人)"),
        ("2.1.1-2", "中共广东省委教育工委关于公布名单的通知(粤教工委组函3号)"),
        ("1.1.1-7", "规划和2035年远景目标纲要（粤府〔2021〕28号）"),
        ("2.3.6-2-1", "会议纪要(2022年第12期)"),
    ]


@pytest.mark.parametrize("sep", ["\n", "\n\n", "\r\n", "；", " "])
def test_catalog_split_by_lines_and_paragraphs(sep: str) -> None:
    text = sep.join(["1.2.1-1 报到明细表", "1.2.1-2 2021年报到明细表(148252820.40元)"])
    entries, _ = split_catalog(text)
    assert entries == [("1.2.1-1", "报到明细表"), ("1.2.1-2", "2021年报到明细表(148252820.40元)")]


@pytest.mark.parametrize(
    "not_a_code",
    [
        "粤教职函〔2022〕24号",
        "(2019)134号",
        "2020-2022级",
        "2035年",
        "截止至2022.12.31",
        "4933.88万元",
    ],
)
def test_numbers_in_titles_are_not_codes(not_a_code: str) -> None:
    assert split_catalog(f"{not_a_code} 说明文字") == ([], f"{not_a_code} 说明文字")


# -- layouts built here ------------------------------------------------------------------


def seed_rows(shared_dir: Path) -> list[list[str]]:
    """The 53 indicator rows of the seed self-assessment table (tab-separated text)."""
    seed = next((shared_dir / "seeds").glob("003_*.txt"))
    rows = []
    for line in seed.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        if len(cells) == 8 and cells[0].strip().isdigit():
            rows.append(cells)
    assert len(rows) == 53
    return rows


def write_csv(path: Path, rows: list[list[str]], encoding: str, delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("gbk", ","), ("utf-8-sig", ","), ("utf-8", "\t"), ("gb18030", "\t")],
)
def test_csv_encodings(shared_dir: Path, tmp_path: Path, encoding: str, delimiter: str) -> None:
    rows = [HEADER] + seed_rows(shared_dir)
    path = write_csv(tmp_path / "table.csv", rows, encoding, delimiter)
    assert_fixture_figures(parse_framework_file(path), SEED_ENTRIES)


def test_xlsx_reordered_columns_header_on_row_3_remarks_and_line_breaks(
    shared_dir: Path, tmp_path: Path
) -> None:
    import openpyxl

    rows = seed_rows(shared_dir)
    order = [7, 3, 6, 1, 2, 0, 5, 4]  # catalog first, level-3 second, …
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["2023年度创新强校工程考核 自评打分表"])
    ws.append(["填报单位：质量管理办公室"])
    ws.append([HEADER[i] for i in order] + ["备注", "其他"])
    level1_start = level2_start = None
    for n, row in enumerate(rows, start=4):
        cells = [row[i] for i in order]
        # catalog entries on separate lines inside the cell
        entries, _ = split_catalog(row[7])
        cells[0] = "\n".join(f"{c} {t}" for c, t in entries)
        ws.append(cells + ["备注" + row[0], "x"])
        # merge level-1/level-2 down like Excel does: only the top cell keeps a value
        for col, start_name in ((4, "l1"), (5, "l2")):
            value = cells[col - 1]
            if value:
                if start_name == "l1":
                    if level1_start and n - 1 > level1_start:
                        ws.merge_cells(
                            start_row=level1_start, end_row=n - 1, start_column=4, end_column=4
                        )
                    level1_start = n
                else:
                    if level2_start and n - 1 > level2_start:
                        ws.merge_cells(
                            start_row=level2_start, end_row=n - 1, start_column=5, end_column=5
                        )
                    level2_start = n
    path = tmp_path / "reordered.xlsx"
    wb.save(path)
    parsed = parse_framework_file(path)
    assert_fixture_figures(parsed, SEED_ENTRIES)
    assert parsed.leaves[0].remarks == "备注1"
    assert parsed.title == "2023年度创新强校工程考核 自评打分表"


def test_docx_with_entries_as_paragraphs(shared_dir: Path, tmp_path: Path) -> None:
    import docx

    rows = seed_rows(shared_dir)
    document = docx.Document()
    document.add_paragraph("自评打分表（A类规划）")
    table = document.add_table(rows=1, cols=8)
    for cell, name in zip(table.rows[0].cells, HEADER, strict=True):
        cell.text = name
    for row in rows:
        cells = table.add_row().cells
        for j in range(7):
            cells[j].text = row[j]
        entries, _ = split_catalog(row[7])
        for k, (code, title) in enumerate(entries):
            paragraph = cells[7].paragraphs[0] if k == 0 else cells[7].add_paragraph()
            paragraph.text = f"{code} {title}"
    path = tmp_path / "paragraphs.docx"
    document.save(path)
    assert_fixture_figures(parse_framework_file(path), SEED_ENTRIES)


def test_small_table_with_responsibility_columns(tmp_path: Path) -> None:
    rows = [
        ["考核指标", "", "", "", "", "", "", "", "", ""],
        [
            "三级指标",
            "序号",
            "一级指标",
            "二级指标",
            "佐证材料目录",
            "自评得分",
            "责任部门",
            "责任人",
            "截止日期",
            "计分方法",
        ],
        [
            "1.1.1 专业匹配（2分）",
            "1",
            "1. 扩容 (2分)",
            "1.1 办学定位 (2分)",
            "1.1.1-1 报告；1.1.1-2 明细表",
            "2",
            "教务处",
            "张老师",
            "2026-12-31",
            "定性评价",
        ],
    ]
    path = write_csv(tmp_path / "small.csv", rows, "utf-8")
    parsed = parse_framework_file(path)
    leaf = parsed.leaves[0]
    assert (leaf.department, leaf.owner, str(leaf.due_date), leaf.scoring_rule) == (
        "教务处",
        "张老师",
        "2026-12-31",
        "定性评价",
    )
    assert [(e.code, e.title) for e in leaf.entries] == [("1.1.1-1", "报告"), ("1.1.1-2", "明细表")]


# -- bad tables --------------------------------------------------------------------------


def test_no_header_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [["名称", "数量"], ["甲", "1"]], "utf-8")
    with pytest.raises(FrameworkImportError, match="未找到表头"):
        parse_framework_file(path)


def test_unknown_csv_encoding_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "utf16.csv"
    path.write_bytes(",".join(HEADER).encode("utf-16-le"))  # UTF-16 without a BOM
    with pytest.raises(FrameworkImportError, match="编码"):
        parse_framework_file(path)


def test_corrupt_docx_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.docx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("junk.bin", b"\x00" * 100)
    with pytest.raises(FrameworkImportError, match="不是 Word 或 Excel"):
        parse_framework_file(path)
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    with pytest.raises(FrameworkImportError, match="已损坏"):
        parse_framework_file(truncated)


def test_encrypted_xlsx_is_an_error(framework_fixtures: Path, tmp_path: Path) -> None:
    msoffcrypto = pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile

    out = tmp_path / "locked.xlsx"
    with open(framework_fixtures / f"{FIXTURE}.xlsx", "rb") as src, open(out, "wb") as dst:
        OOXMLFile(src).encrypt("secret", dst)
    assert msoffcrypto  # imported for the skip above
    with pytest.raises(FrameworkImportError, match="加密"):
        parse_framework_file(out)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    path.write_bytes(b"")
    with pytest.raises(FrameworkImportError, match="文件为空"):
        parse_framework_file(path)


# -- the database side -------------------------------------------------------------------


def counts(session) -> tuple[int, int, int, int]:
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Framework, Indicator, CatalogEntry, ImportAnomaly)
    )


def test_cli_import_json_and_reimport_is_idempotent(
    invoke, framework_fixtures: Path, session
) -> None:
    import json

    result = invoke("framework", "import", framework_fixtures / f"{FIXTURE}.docx", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {k: report[k] for k in ("framework_id", "indicators", "levels", "entries")} == {
        "framework_id": 1,
        "indicators": 53,
        "levels": {"1": 4, "2": 18, "3": 53},
        "entries": 229,
    }
    assert (report["self_score_total"], report["max_points_total"]) == (92.7, 100)
    kinds = Counter(a["kind"] for a in report["anomalies"])
    assert kinds == {
        "misnumbered_entry": 19,
        "duplicate_entry_code": 3,
        "alternative_indicators": 2,
    }
    assert set(report["anomalies"][0]) == {"kind", "code", "indicator", "detail"}
    assert report["warnings"] == []
    before = counts(session)
    assert before == (1, 75, 229, 24)
    entry_ids = sorted(session.scalars(select(CatalogEntry.id)))
    # the same table again, and then its XLSX twin: nothing duplicated, ids kept
    for ext in ("docx", "xlsx"):
        again = invoke("framework", "import", framework_fixtures / f"{FIXTURE}.{ext}", "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.output)["framework_id"] == 1
    session.expire_all()
    assert counts(session) == before
    assert sorted(session.scalars(select(CatalogEntry.id))) == entry_ids
    actions = list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["framework.import", "framework.reimport", "framework.reimport"]


def test_cli_show_and_list_json(invoke, make_framework) -> None:
    import json

    make_framework()
    listing = json.loads(invoke("framework", "list", "--json").output)
    assert [(f["id"], f["indicators"], f["entries"]) for f in listing] == [(1, 53, 229)]
    tree = json.loads(invoke("framework", "show", "1", "--json").output)
    assert [n["code"] for n in tree] == ["1", "2", "3", "4"]
    node = tree[1]["children"][2]["children"][3]
    assert set(node) >= {
        "code",
        "name",
        "level",
        "max_points",
        "self_score",
        "description",
        "scoring_rule",
        "entries",
        "children",
    }
    assert (node["code"], node["level"], node["max_points"], node["self_score"]) == (
        "2.3.4",
        3,
        1.5,
        1.5,
    )
    assert [e["code"] for e in node["entries"]] == [
        "2.3.4-1",
        "2.3.4-2",
        "2.3.4-3",
        "2.3.4.4",
        "2.3.4-5",
    ]
    missing = invoke("framework", "show", "99")
    assert missing.exit_code == 1
    assert "不存在" in missing.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "文件为空"),
        ("名称,数量\n甲,1\n".encode(), "未找到表头"),
        (b"%PDF-1.4\n garbage", "PDF"),
    ],
)
def test_cli_bad_table_exits_1_and_changes_nothing(
    invoke, make_framework, session, tmp_path: Path, content: bytes, message: str
) -> None:
    make_framework()
    before = counts(session)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke("framework", "import", path)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("错误：") and message in lines[0]
    session.expire_all()
    assert counts(session) == before


def test_new_version_of_table_keeps_documents_linked(
    runtime, make_framework, shared_dir: Path, tmp_path: Path, session
) -> None:
    from storage import Document, DocumentLink

    rows = seed_rows(shared_dir)
    path = write_csv(tmp_path / "v1.csv", [HEADER] + rows, "utf-8")
    report = make_framework(path, name="测试体系")
    fid = report["framework_id"]

    def entry(code: str) -> CatalogEntry:
        return session.scalars(
            select(CatalogEntry).where(CatalogEntry.framework_id == fid, CatalogEntry.code == code)
        ).first()

    # documents filling 2.3.4-1, the misnumbered 2.3.4.4, and 1.2.1-2 (which v2 drops)
    docs = {}
    for code in ("2.3.4-1", "2.3.4.4", "1.2.1-2"):
        doc = Document(framework_id=fid, title=code, code=code)
        doc.links.append(DocumentLink(entry_id=entry(code).id, code=code))
        session.add(doc)
        docs[code] = doc
    session.commit()
    # v2: 2.3.4.4 fixed to 2.3.4-4, 1.2.1-2 removed, a new entry added to 1.2.1
    v2 = []
    for row in rows:
        row = list(row)
        row[7] = row[7].replace("2.3.4.4 ", "2.3.4-4 ")
        if row[3].startswith("1.2.1"):
            row[7] = "1.2.1-1 广东工程职业技术学院2022年普通高职实际报到明细表 1.2.1-3 新增材料"
        v2.append(row)
    path2 = write_csv(tmp_path / "v2.csv", [HEADER] + v2, "utf-8")
    report2 = make_framework(path2, name="测试体系")
    assert report2["framework_id"] == fid
    assert report2["entries"] == SEED_ENTRIES
    assert report2["links_moved"] == 2 and report2["links_dropped"] == 0
    session.expire_all()

    def linked(code: str) -> tuple[str | None, str | None]:
        link = session.get(Document, docs[code].id).links[0]
        return (
            link.entry.code if link.entry else None,
            link.indicator.code if link.indicator else None,
        )

    assert linked("2.3.4-1") == ("2.3.4-1", None)
    # the entry's code changed: the document now hangs on its indicator, nothing lost
    assert linked("2.3.4.4") == (None, "2.3.4")
    assert linked("1.2.1-2") == (None, "1.2.1")
    assert "2.3.4.4" not in {a.code for a in session.scalars(select(ImportAnomaly))}


def test_import_adds_title_terms_to_the_dictionary(make_framework, runtime) -> None:
    from evidence_app.frameworks.operations import framework_terms, load_framework_terms
    from indexer import tokenize

    assert framework_terms(["校企合作“订单班”建设管理办法(粤工程职院发(2019)37号)"]) == {
        "校企合作",
        "订单班",
        "建设管理办法",
        "粤工程职院发",
    }
    make_framework()
    assert "建设管理办法" in [t.text for t in tokenize("订单班建设管理办法的通知")]
    with runtime.session() as s:
        assert load_framework_terms(s) == 0  # every term is already in this process
