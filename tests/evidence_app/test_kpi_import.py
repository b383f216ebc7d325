"""KPI import into a framework (seed report, generated DOCX and XLSX), re-import, evidence
linking by KPI code, coverage, findings and ``evidence check``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from evidence_app.kpi import operations as kpi_service
from storage import AuditLog, DocumentLink, Framework, Indicator
from tests.conftest import load_module


def _load(name: str):
    """A sibling test module."""
    return load_module(Path(__file__).with_name(f"{name}.py"))


seed_expect = _load("test_kpi_completion")


@pytest.fixture(scope="module")
def seed_report(shared_dir: Path) -> Path:
    found = sorted((shared_dir / "seeds").glob("000_*.txt"))
    if not found:
        pytest.skip(f"seed report 000_*.txt not found under {shared_dir / 'seeds'}")
    return found[0]


def run_json(invoke, *args: str) -> dict:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def tree(session, framework_id: int) -> list[tuple[int, str, str, str | None]]:
    """(level, code, kind, parent code) of the KPI branch, in position order."""
    rows = session.scalars(
        select(Indicator)
        .where(Indicator.framework_id == framework_id, Indicator.kind != "indicator")
        .order_by(Indicator.position)
    ).all()
    return [(i.level, i.code, i.kind, i.parent.code if i.parent else None) for i in rows]


# -- the seed report -------------------------------------------------------------------------


def test_seed_report_import_and_check(invoke, session, seed_report: Path) -> None:
    report = run_json(
        invoke, "kpi", "import", seed_report, "--new-framework", "双高计划中期绩效", "--json"
    )
    fw = report["framework_id"]
    assert (report["rows"], report["created"], report["updated"], report["unchanged"]) == (
        218,
        218,
        0,
        0,
    )
    assert report["tables"] == 32
    assert report["categories"] == {
        "数量": 113,
        "质量": 84,
        "时效": 3,
        "社会效益": 11,
        "可持续影响": 7,
    }
    assert report["skipped"] == [] and report["not_in_file"] == []
    assert len(report["warnings"]) == 4
    assert report["completion"] == {
        "ok": 164,
        "completion_mismatch": 27,
        "achieved_not_numeric": 24,
        "below_target_reported_complete": 2,
        "target_not_numeric": 1,
    }

    # the tree: one root, a node per category, the KPIs under them in code order
    branch = tree(session, fw)
    assert branch[:3] == [
        (1, "KPI", "kpi_group", None),
        (2, "KPI-数量", "kpi_group", "KPI"),
        (3, "1.1.1.1", "kpi", "KPI-数量"),
    ]
    assert [b[1] for b in branch if b[0] < 3] == [
        "KPI",
        "KPI-数量",
        "KPI-质量",
        "KPI-时效",
        "KPI-社会效益",
        "KPI-可持续影响",
    ]
    codes = [b[1] for b in branch if b[0] == 3]
    assert len(codes) == 218
    assert codes[codes.index("1.1.1.30") + 1] == "1.1.2.1"  # 1.1.10.x after 1.1.9.x
    assert codes[codes.index("1.1.9.13") + 1] == "1.1.10.1"

    # evidence check: the same rows as the pure check, as findings
    check = run_json(invoke, "check", "--framework", fw, "--json")
    mismatches = [f["codes"][0] for f in check["findings"] if f["kind"] == "completion_mismatch"]
    assert mismatches == [code for code, *_ in seed_expect.SEED_COMPLETION_MISMATCHES]
    assert check["finding_counts"] == {
        "completion_mismatch": 27,
        "achieved_not_numeric": 24,
        "below_target_reported_complete": 2,
        "target_not_numeric": 1,
    }
    first = next(f for f in check["findings"] if f["kind"] == "completion_mismatch")
    assert first["source"] == "第 681 行" and first["agrees_with"] == ["final_half"]
    assert (first["reported"], first["computed"], first["convention"]) == (200.0, 100.0, "uncapped")
    assert check["kpi"]["count"] == 218
    assert check["scoring"]["counts"]["rules"] == 0  # a report without an assessment table

    # human-readable output
    result = invoke("check", "--framework", fw)
    assert result.exit_code == 0
    assert (
        "绩效指标 218 个：一致 164，未报告完成度 0，未达目标却报完成 2，完成度不一致 27"
        in result.output
    )
    assert "[高] 未达目标却报完成：1.2.1.11 国家级教育教学改革研究与实践项目" in result.output

    # re-import: everything unchanged, nothing duplicated
    again = run_json(invoke, "kpi", "import", seed_report, "--framework", fw, "--json")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 218)
    session.expire_all()
    assert tree(session, fw) == branch
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.action == "kpi.import").order_by(AuditLog.id)
    ).all()
    assert actions == ["kpi.import", "kpi.import"]


def test_kpis_in_the_assessment_framework(
    invoke, session, runtime, make_framework, seed_report: Path, tmp_path: Path
) -> None:
    """KPIs next to the self-assessment table: codes the table already has are not imported;
    files link to KPIs by exact code; coverage and findings count them; the table's re-import
    leaves them alone."""
    from evidence_app.coverage.export import write_coverage_xlsx
    from evidence_app.coverage.findings import compute_findings
    from evidence_app.coverage.operations import compute_coverage

    fw = make_framework()["framework_id"]
    report = run_json(invoke, "kpi", "import", seed_report, "--framework", fw, "--json")
    # 1.3.1, 2.1.1-2.1.5 and 2.2.1-2.2.5 are the assessment table's own codes
    taken = ["1.3.1", *(f"2.1.{i}" for i in range(1, 6)), *(f"2.2.{i}" for i in range(1, 6))]
    assert report["skipped"] == taken
    assert report["created"] == 218 - len(taken)
    assert report["warnings"][-1] == (
        "第 1278 行：编号 2.2.5 已是本指标体系的指标，绩效指标“双师队伍建设与激励机制”未导入"
    )
    # 2.1.6-2.1.11 still form a group (社会效益); 2.2.6, 2.2.7 one (可持续影响)

    # a file named by a KPI code links to the KPI, not to the level-3 indicator 1.1.1
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "1.1.1.1 专业人才培养方案汇编.txt").write_text(
        "专业人才培养方案汇编 2023 版", "utf-8"
    )
    (folder / "1.1.1 匹配度报告.txt").write_text("专业设置与区域重点产业匹配度报告", "utf-8")
    ingest = run_json(invoke, "ingest", folder, "--framework", fw, "--json")
    linked = {d["name"]: (d["code"], d["indicator"]) for d in ingest["documents"]}
    assert linked == {
        "1.1.1.1 专业人才培养方案汇编.txt": ("1.1.1.1", "1.1.1.1"),
        "1.1.1 匹配度报告.txt": ("1.1.1", "1.1.1"),
    }
    session.expire_all()
    kpi = session.scalars(
        select(Indicator).where(Indicator.framework_id == fw, Indicator.code == "1.1.1.1")
    ).one()
    assert kpi.kind == "kpi"
    assert (
        session.scalar(
            select(func.count())
            .select_from(DocumentLink)
            .where(DocumentLink.indicator_id == kpi.id)
        )
        == 1
    )

    # coverage counts KPIs as leaves; the linked one is complete
    coverage = compute_coverage(session, fw)
    leaves = {(leaf.code, leaf.variant): leaf for leaf in coverage.leaves}
    assert len(leaves) == 53 + 207
    assert leaves[("1.1.1.1", 0)].state == "complete"
    assert leaves[("1.1.1.2", 0)].state == "none"
    assert "KPI" not in {leaf.code for leaf in coverage.leaves}

    # the audit findings include the KPI checks, labelled, and the XLSX lists them
    findings = compute_findings(session, fw, coverage=coverage)
    kinds = Counter(f.kind for f in findings)
    assert kinds["completion_mismatch"] == 25  # 27 less 2.1.1 and 2.1.2, the table's codes here
    assert kinds["below_target_reported_complete"] == 2
    mismatch = next(f for f in findings if f.kind == "completion_mismatch")
    assert mismatch.as_json()["codes"] == ["1.1.1.1"] and mismatch.severity == "medium"
    out = tmp_path / "coverage.xlsx"
    write_coverage_xlsx(session, fw, out, coverage=coverage, findings=findings)
    from openpyxl import load_workbook

    wb = load_workbook(out, read_only=True)
    kinds_in_sheet = Counter(
        row[1] for row in wb["问题清单"].iter_rows(min_row=2, values_only=True)
    )
    wb.close()
    assert kinds_in_sheet["完成度不一致"] == 25
    assert kinds_in_sheet["未达目标却报完成"] == 2

    # re-importing the assessment table keeps the KPIs, their links and positions
    session.close()
    before = tree(session, fw)
    make_framework()
    session.expire_all()
    assert tree(session, fw) == before
    assert (
        session.scalar(
            select(func.count())
            .select_from(DocumentLink)
            .where(DocumentLink.indicator_id == kpi.id)
        )
        == 1
    )


# -- generated DOCX and XLSX -----------------------------------------------------------------

DOCX_TABLES = [
    (
        ["类型", "三级指标", "期 满 目 标 值", "中期目标值", "中期实现值", "中 期 完 成 度"],
        [
            [
                "数量指标",
                "1.1.5.1 建设具有国家示范性的数字化职教集团（联盟）（个）",
                "1",
                "0.5",
                "1",
                "200%",
            ],
            ["", "1.1.5.2 服务中小微企业（家）", "200", "100", "398", "398%"],
            ["", "1.1.5.3 成立产业学院（个）", "9", "4.5", "9", "100%"],
        ],
    ),
    (
        ["类型", "三级指标", "期满目标值", "中期目标值", "中期实现值", "中期完成率"],
        [
            [
                "质量指标",
                "1.2.5.1 省级示范性产业学院（个）",
                "4",
                "2",
                "立项1个，23年申报1个",
                "100%",
            ],
            ["", "1.2.5.2 国家级高水平实训基地（个）", "1", "0.5", "2", "100%"],
            ["", "1.2.5.3 省级高水平实训基地（个）", "5", "2.5", "2", "100%"],
            ["", "省级粤菜师傅培训中心（个）", "1", "0.5", "1", "100%"],
            ["", "1.2.10.3 省级普通高校创新团队（个）", "1", "0.5", "1", "--"],
        ],
    ),
]


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("表 2-62: 提高校企合作水平数量指标表")
    for header, rows in DOCX_TABLES:
        table = document.add_table(rows=1 + len(rows), cols=len(header))
        for j, text in enumerate(header):
            table.cell(0, j).text = text
        for i, row in enumerate(rows, start=1):
            for j, text in enumerate(row):
                table.cell(i, j).text = text
        # the category column is one merged cell, as in the report
        table.cell(1, 0).merge(table.cell(len(rows), 0))
        document.add_paragraph("")
    document.save(path)
    return path


def make_xlsx(path: Path, achieved_82: float = 80) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "数量指标"
    ws.append(["表 2-74: 提升信息化水平数量指标表"])
    ws.append(["类型", "三级指标", "期满目标值", "中期目标值", "中期实现值", "中期完成度"])
    rows = [
        ["数量指标", "1.1.8.6 智慧课室 (间)", "≥ 120", "≥ 60", 125, 125 / 60],
        [None, "1.1.8.7 精品在线开放课程资源 (TB)", "≥ 500", "≥ 250", 359.61, 1.0],
        [None, "1.1.8.2 核心主干网络带宽 (Gbps)", 40, 20, achieved_82, 1.0],
        [None, "1.1.8.3 总出口带宽 (Gbps)", 20, 10, 80, 1.0],
    ]
    for row in rows:
        ws.append(row)
        ws.cell(ws.max_row, 6).number_format = "0%"
    ws.merge_cells("A3:A6")
    ws2 = wb.create_sheet("时效指标")
    ws2.append(["序号", "三级指标", "期满目标值", "中期目标值", "中期实现值", "中期完成率"])
    ws2.append(["时效指标", "1.3.2 收入预算执行率（%）", 100, 100, 100.63, 1.0])
    ws2.cell(2, 6).number_format = "0.00%"
    ws2.append(["", "1.3.3 支出预算执行率（%）", "95", "95", "96.60", "100%"])
    wb.save(path)
    return path


def test_kpi_import_from_docx(invoke, session, tmp_path: Path) -> None:
    path = make_docx(tmp_path / "绩效指标.docx")
    report = run_json(invoke, "kpi", "import", path, "--new-framework", "校企合作", "--json")
    fw = report["framework_id"]
    assert (report["rows"], report["tables"], report["created"]) == (7, 2, 7)
    assert report["warnings"] == ["表 2 第 5 行：“省级粤菜师傅培训中心（个）”没有指标编号，未导入"]
    rows = session.scalars(
        select(Indicator)
        .where(Indicator.framework_id == fw, Indicator.kind == "kpi")
        .order_by(Indicator.position)
    ).all()
    got = [
        (
            r.code,
            r.name,
            r.unit,
            r.category,
            r.final_target,
            r.midterm_target,
            r.achieved_value,
            r.achieved_text,
            r.reported_completion,
            r.source_ref,
        )
        for r in rows
    ]
    assert got == [
        (
            "1.1.5.1",
            "建设具有国家示范性的数字化职教集团（联盟）",
            "个",
            "数量",
            "1",
            "0.5",
            1.0,
            "1",
            200.0,
            "表 1 第 2 行",
        ),
        (
            "1.1.5.2",
            "服务中小微企业",
            "家",
            "数量",
            "200",
            "100",
            398.0,
            "398",
            398.0,
            "表 1 第 3 行",
        ),
        ("1.1.5.3", "成立产业学院", "个", "数量", "9", "4.5", 9.0, "9", 100.0, "表 1 第 4 行"),
        (
            "1.2.5.1",
            "省级示范性产业学院",
            "个",
            "质量",
            "4",
            "2",
            None,
            "立项1个，23年申报1个",
            100.0,
            "表 2 第 2 行",
        ),
        (
            "1.2.5.2",
            "国家级高水平实训基地",
            "个",
            "质量",
            "1",
            "0.5",
            2.0,
            "2",
            100.0,
            "表 2 第 3 行",
        ),
        (
            "1.2.5.3",
            "省级高水平实训基地",
            "个",
            "质量",
            "5",
            "2.5",
            2.0,
            "2",
            100.0,
            "表 2 第 4 行",
        ),
        (
            "1.2.10.3",
            "省级普通高校创新团队",
            "个",
            "质量",
            "1",
            "0.5",
            1.0,
            "1",
            None,
            "表 2 第 6 行",
        ),
    ]
    check = run_json(invoke, "check", "--framework", fw, "--json")
    outcomes = {c["code"]: c["outcome"] for c in check["kpi"]["checks"]}
    assert outcomes == {
        "1.1.5.1": "ok",
        "1.1.5.2": "ok",
        "1.1.5.3": "completion_mismatch",  # 9 ÷ 4.5 = 200 %, its table reports ratios uncapped
        "1.2.5.1": "achieved_not_numeric",
        "1.2.5.2": "ok",  # 2 ÷ 0.5 = 400 %, capped to 100 % like the rest of its group
        "1.2.5.3": "below_target_reported_complete",  # 2 ÷ 2.5 = 80 %
        "1.2.10.3": "not_reported",
    }


def test_kpi_import_from_xlsx_and_reimport(invoke, session, tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "绩效指标.xlsx")
    report = run_json(invoke, "kpi", "import", path, "--new-framework", "信息化", "--json")
    fw = report["framework_id"]
    assert (report["rows"], report["tables"], report["created"]) == (6, 2, 6)
    rows = session.scalars(
        select(Indicator)
        .where(Indicator.framework_id == fw, Indicator.kind == "kpi")
        .order_by(Indicator.position)
    ).all()
    got = [
        (
            r.code,
            r.unit,
            r.category,
            r.midterm_target,
            r.achieved_value,
            r.reported_completion_text,
            r.source_ref,
        )
        for r in rows
    ]
    assert got == [
        ("1.1.8.2", "Gbps", "数量", "20", 80.0, "100%", "工作表“数量指标”第 5 行"),
        ("1.1.8.3", "Gbps", "数量", "10", 80.0, "100%", "工作表“数量指标”第 6 行"),
        ("1.1.8.6", "间", "数量", "≥ 60", 125.0, "208%", "工作表“数量指标”第 3 行"),
        ("1.1.8.7", "TB", "数量", "≥ 250", 359.61, "100%", "工作表“数量指标”第 4 行"),
        ("1.3.2", "%", "时效", "100", 100.63, "100.00%", "工作表“时效指标”第 2 行"),
        ("1.3.3", "%", "时效", "95", 96.6, "100%", "工作表“时效指标”第 3 行"),
    ]
    check = run_json(invoke, "check", "--framework", fw, "--json")
    outcomes = {c["code"]: c["outcome"] for c in check["kpi"]["checks"]}
    # group 1.1.8 caps (3 votes to 1): 125 ÷ 60 = 208 % reported as such is the odd one out
    assert outcomes == {
        "1.1.8.2": "ok",
        "1.1.8.3": "ok",
        "1.1.8.6": "completion_mismatch",
        "1.1.8.7": "ok",
        "1.3.2": "ok",  # 100.63 ÷ 100 = 100.63 %, reported "100.00%": capped, to 0.005 points
        "1.3.3": "ok",  # 96.6 ÷ 95 = 101.7 %, reported 100 %: capped like 1.3.2
    }

    # a document linked to a KPI stays linked through a re-import
    kpi = next(r for r in rows if r.code == "1.1.8.2")
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "1.1.8.2 核心网络带宽测试报告.txt").write_text("核心主干网络带宽 80Gbps", "utf-8")
    run_json(invoke, "ingest", folder, "--framework", fw, "--json")

    again = run_json(invoke, "kpi", "import", path, "--framework", fw, "--json")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 6)
    changed = make_xlsx(tmp_path / "绩效指标（修订）.xlsx", achieved_82=85)
    again = run_json(invoke, "kpi", "import", changed, "--framework", fw, "--json")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 1, 5)
    session.expire_all()
    assert (
        session.scalar(
            select(func.count())
            .select_from(Indicator)
            .where(Indicator.framework_id == fw, Indicator.kind == "kpi")
        )
        == 6
    )
    assert session.get(Indicator, kpi.id).achieved_value == 85.0
    assert (
        session.scalar(
            select(func.count())
            .select_from(DocumentLink)
            .where(DocumentLink.indicator_id == kpi.id)
        )
        == 1
    )

    # another file adds to the framework; KPIs missing from it are kept and listed
    docx = make_docx(tmp_path / "校企合作.docx")
    more = run_json(invoke, "kpi", "import", docx, "--framework", fw, "--json")
    assert more["created"] == 7 and more["kpis"] == 13
    assert more["not_in_file"] == ["1.1.8.2", "1.1.8.3", "1.1.8.6", "1.1.8.7", "1.3.2", "1.3.3"]
    session.expire_all()
    assert [b[1] for b in tree(session, fw) if b[0] < 3] == [
        "KPI",
        "KPI-数量",
        "KPI-质量",
        "KPI-时效",
    ]


def test_import_errors(invoke, session, tmp_path: Path) -> None:
    fw = run_json(
        invoke, "kpi", "import", make_docx(tmp_path / "a.docx"), "--new-framework", "X", "--json"
    )["framework_id"]
    text = tmp_path / "说明.txt"
    text.write_text("这是一段说明文字，没有表格。\n第二行。\n", "utf-8")
    result = invoke("kpi", "import", text, "--framework", fw)
    assert result.exit_code == 1
    assert "未找到绩效指标表头" in result.output
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(b"")
    result = invoke("kpi", "import", empty, "--framework", fw)
    assert result.exit_code == 1 and "文件为空" in result.output
    result = invoke("kpi", "import", text, "--framework", 999)
    assert result.exit_code == 1 and "指标体系 999 不存在" in result.output
    result = invoke("kpi", "import", text)
    assert result.exit_code == 1 and "--framework" in result.output
    # nothing half-written: the failed imports added no framework and no KPI
    assert session.scalar(select(func.count()).select_from(Framework)) == 1
    assert kpi_service.kpis_of(session, fw)[0].code == "1.1.5.1"


def test_check_lists_every_scoring_rule(invoke, session, make_framework) -> None:
    """``evidence check`` on the self-assessment table: the parse counts, each rule's parsed
    form, and computed points where a measured value exists."""
    from evidence_app.kpi.scoring import record_measurement

    fw = make_framework()["framework_id"]
    result = invoke("check", "--framework", fw)
    assert result.exit_code == 0, result.output
    assert "计分方法 53 条：可计算 29，定性评价（不可计算）24，无法解析 0；" in result.output
    assert "已录入实际值 0，已算出得分 0，与自评不符 0" in result.output

    ind = session.scalars(
        select(Indicator).where(Indicator.framework_id == fw, Indicator.code == "1.1.1")
    ).one()  # ≥95% 2 分 …; self-score 2
    record_measurement(session, ind, None, {"value": "92"})
    session.commit()
    check = run_json(invoke, "check", "--framework", fw, "--json")
    counts = check["scoring"]["counts"]
    assert counts == {
        "rules": 53,
        "parsed": 29,
        "not_computable": 24,
        "unparseable": 0,
        "without_rule": 0,
        "measured": 1,
        "computed": 1,
        "mismatches": 1,
    }
    rules = {(r["code"], r["variant"]): r for r in check["scoring"]["rules"]}
    assert len(rules) == 53
    r = rules[("1.1.1", 0)]
    assert (r["status"], r["values"], r["points"], r["self_score"], r["mismatch"]) == (
        "parsed",
        {"value": 92.0},
        1.5,
        2.0,
        True,
    )
    assert r["parsed"]["bands"][0] == {
        "min": None,
        "min_inclusive": False,
        "max": 85.0,
        "max_inclusive": False,
        "points": 0.0,
    }
    assert rules[("1.2.1", 0)]["status"] == "qualitative"
    assert rules[("4.2.1", 0)]["parsed"]["kind"] == "schemes"
    assert [f["kind"] for f in check["findings"]] == ["score_rule_mismatch"]
    assert check["findings"][0]["detail"] == (
        "1.1.1 专业设置与区域重点产业匹配度：实际值（%） 92，按计分方法得 1.5 分，自评 2 分"
    )
    result = invoke("check", "--framework", fw)
    assert "[高] 自评分与计分方法不符：1.1.1 专业设置与区域重点产业匹配度" in result.output
    result = invoke("check", "--framework", 999)
    assert result.exit_code == 1 and "指标体系 999 不存在" in result.output


def test_table_version_bringing_a_kpi_code_is_refused(
    invoke, session, runtime, make_framework, shared_dir: Path, seed_report: Path, tmp_path: Path
) -> None:
    """The table's new version names an indicator 2.1.6, already a KPI of the framework: the
    re-import stops with the clashing codes and changes nothing (it used to fail on the
    database's unique constraint)."""
    table = _load("test_framework_import")
    rows = table.seed_rows(shared_dir)
    v1 = table.write_csv(tmp_path / "v1.csv", [table.HEADER] + rows, "utf-8")
    fw = make_framework(v1, name="测试体系")["framework_id"]
    run_json(invoke, "kpi", "import", seed_report, "--framework", fw, "--json")
    before = session.scalar(select(func.count()).select_from(Indicator))
    v2 = [list(r) for r in rows]
    renamed = next(r for r in v2 if r[3].startswith("2.1.5"))
    renamed[3] = "2.1.6" + renamed[3][len("2.1.5") :]
    path = table.write_csv(tmp_path / "v2.csv", [table.HEADER] + v2, "utf-8")
    result = invoke("framework", "import", path, "--framework", str(fw))
    assert result.exit_code == 1
    assert "2.1.6 已是本指标体系的绩效指标" in result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Indicator)) == before
    codes = session.scalars(
        select(Indicator.code).where(Indicator.framework_id == fw, Indicator.kind == "indicator")
    ).all()
    assert "2.1.5" in codes and "2.1.6" not in codes
