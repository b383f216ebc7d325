"""KPI figures and the completion check: numbers as written, the seed report's tables."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evidence_app.kpi import (
    KpiFigures,
    check_completion,
    parse_figure,
    parse_kpi_file,
    parse_percent,
    split_name_unit,
)


@pytest.fixture(scope="module")
def seed_report(shared_dir: Path) -> Path:
    found = sorted((shared_dir / "seeds").glob("000_*.txt"))
    if not found:
        pytest.skip(f"seed report 000_*.txt not found under {shared_dir / 'seeds'}")
    return found[0]


# -- numbers as written ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "op", "percent"),
    [
        ("1", 1.0, "", False),
        ("15.0", 15.0, "", False),
        ("≥3", 3.0, "≥", False),
        ("≥ 250", 250.0, "≥", False),
        ("$\\geq 95\\%$", 95.0, "≥", True),
        ("不少于 10 个", 10.0, "≥", False),
        ("≤18", 18.0, "≤", False),
        ("10%", 10.0, "", True),
        ("16.5%", 16.5, "", True),
        ("35.60%", 35.6, "", True),
        ("1:1", 1.0, "", False),
        ("18:1", 18.0, "", False),
        ("8-10", 8.0, "", False),
        ("3,000", 3000.0, "", False),
        ("５个", 5.0, "", False),
        ("3000万元", 3000.0, "", False),
    ],
)
def test_figures_that_are_numbers(text: str, value: float, op: str, percent: bool) -> None:
    figure = parse_figure(text)
    assert figure is not None
    assert (figure.value, figure.op, figure.percent) == (value, op, percent)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "--",
        "—",
        "/",
        "无",
        "月收入 × 110%",
        "逐步优化",
        "已获校级创新团队",
        "立项 1 个，23 年申报 1 个",
        "7个专本衔接专业",
        "校级教学成果奖 1 项",
        "10-8",
        "1:0",
    ],
)
def test_figures_that_are_text(text: str) -> None:
    assert parse_figure(text) is None


def test_reported_percent_and_its_precision() -> None:
    assert parse_percent("200%") == (200.0, 0)
    assert parse_percent("35.60%") == (35.6, 2)
    assert parse_percent("100") == (100.0, 0)  # a bare number in the column is percent
    assert parse_percent("") == (None, 0)
    assert parse_percent("已完成") == (None, 0)


@pytest.mark.parametrize(
    ("text", "name", "unit"),
    [
        (
            "建设具有国家示范性的数字化职教集团（联盟）（个）",
            "建设具有国家示范性的数字化职教集团（联盟）",
            "个",
        ),
        ("课程思政覆盖率（%）", "课程思政覆盖率", "%"),
        ("社会培训到款额累计达到（万元）", "社会培训到款额累计达到", "万元"),
        ("专业人才培养方案汇编（套/年）", "专业人才培养方案汇编", "套/年"),
        (
            "建设基于“第二课堂成绩单”的学生管理信息化平台（含素质数据平台，个）",
            "建设基于“第二课堂成绩单”的学生管理信息化平台（含素质数据平台）",
            "个",
        ),
        ("学生获得知识产权数量（含受理）（项）", "学生获得知识产权数量（含受理）", "项"),
        ("智慧课室 (间)", "智慧课室", "间"),
        ("核心主干网络带宽 (Gbps)", "核心主干网络带宽", "Gbps"),
        ("非学历培训人日数与全日制在校生数之比", "非学历培训人日数与全日制在校生数之比", ""),
        ("国家级专业(群)", "国家级专业(群)", ""),
    ],
)
def test_name_and_unit(text: str, name: str, unit: str) -> None:
    assert split_name_unit(text) == (name, unit)


# -- the check on made-up rows -----------------------------------------------------------------


def fig(code: str, mid: str, achieved: float | None, reported: str, final: str = "") -> KpiFigures:
    value, _ = parse_percent(reported)
    return KpiFigures(
        code=code,
        final_target=final,
        midterm_target=mid,
        achieved_value=achieved,
        achieved_text="" if achieved is None else f"{achieved:g}",
        reported_completion=value,
        reported_completion_text=reported,
    )


def outcomes(rows: list[KpiFigures]) -> list[tuple[str, str]]:
    return [(c.code, c.outcome) for c in check_completion(rows)]


def test_targets_written_in_many_ways() -> None:
    rows = [
        fig("1.1.1.1", "≥3", 3, "100%"),
        fig("1.1.1.2", "10%", 12, "120%"),
        fig("1.1.1.3", "1:1", 1, "100%"),
        fig("1.1.1.4", "--", 5, "100%"),
        fig("1.1.1.5", "", 5, "100%"),
        fig("1.1.1.6", "0", 5, "100%"),
        fig("1.1.1.7", "≤18", 16, "112.5%"),  # lower is better: 18 ÷ 16
        fig("1.1.1.8", "8-10", 10, "125%"),  # a range counts from its lower bound
        fig("1.1.1.9", "5", None, "100%"),
    ]
    assert outcomes(rows) == [
        ("1.1.1.1", "ok"),
        ("1.1.1.2", "ok"),
        ("1.1.1.3", "ok"),
        ("1.1.1.4", "target_not_numeric"),
        ("1.1.1.5", "target_not_numeric"),
        ("1.1.1.6", "target_not_numeric"),
        ("1.1.1.7", "ok"),
        ("1.1.1.8", "ok"),
        ("1.1.1.9", "achieved_not_numeric"),
    ]


def test_a_table_without_midterm_targets_uses_the_final_target() -> None:
    rows = [fig("3.1.1", "", 12, "120%", final="10"), fig("3.1.2", "", 12, "150%", final="10")]
    checks = check_completion(rows)
    assert [(c.code, c.outcome, round(c.computed, 2)) for c in checks] == [
        ("3.1.1", "ok", 120.0),
        ("3.1.2", "completion_mismatch", 120.0),
    ]
    assert "实现值 12 ÷ 期满目标值 10 = 120%，报告完成度 150%" in checks[1].detail


def test_rounding_tolerance_is_half_the_last_written_digit() -> None:
    # 22 ÷ 15 = 146.67 %: 147 % is a correct rounding, 146 % is not
    assert outcomes([fig("1.1.1.1", "15", 22, "147%")]) == [("1.1.1.1", "ok")]
    assert outcomes([fig("1.1.1.1", "15", 22, "146%")]) == [("1.1.1.1", "completion_mismatch")]
    # 6300 ÷ 4000 = 157.5 %: rounding half up gives 158 %, half to even would give 158 % too
    assert outcomes([fig("1.1.1.1", "4000", 6300, "158%")]) == [("1.1.1.1", "ok")]
    # with one decimal written the tolerance is 0.05 points
    assert outcomes([fig("1.1.1.1", "15", 22, "146.7%")]) == [("1.1.1.1", "ok")]
    assert outcomes([fig("1.1.1.1", "15", 22, "146.5%")]) == [("1.1.1.1", "completion_mismatch")]


def test_below_target_and_rounding_up_to_100() -> None:
    rows = [
        fig("1.2.1.1", "50", 41, "100%"),  # 82 %
        fig("1.2.1.2", "200", 199, "100%"),  # 99.5 % rounds to 100 %: accepted
        fig("1.2.1.3", "50", 41, "82%"),
        fig("1.2.1.4", "50", 41, "80%"),
    ]
    assert outcomes(rows) == [
        ("1.2.1.1", "below_target_reported_complete"),
        ("1.2.1.2", "ok"),
        ("1.2.1.3", "ok"),
        ("1.2.1.4", "completion_mismatch"),
    ]


def test_the_group_decides_the_convention() -> None:
    capped = [
        fig("1.1.5.1", "0.5", 1, "100%"),
        fig("1.1.5.2", "100", 398, "100%"),
        fig("1.1.5.3", "15", 30, "200%"),  # the odd one out
    ]
    uncapped = [
        fig("1.1.9.1", "10", 12, "120%"),
        fig("1.1.9.2", "1.5", 4, "267%"),
        fig("1.1.9.3", "0.5", 1, "100%"),  # the odd one out
    ]
    checks = {c.code: c for c in check_completion(capped + uncapped)}
    assert [(k, c.outcome, c.convention) for k, c in checks.items()] == [
        ("1.1.5.1", "ok", "capped"),
        ("1.1.5.2", "ok", "capped"),
        ("1.1.5.3", "completion_mismatch", "capped"),
        ("1.1.9.1", "ok", "uncapped"),
        ("1.1.9.2", "ok", "uncapped"),
        ("1.1.9.3", "completion_mismatch", "uncapped"),
    ]
    assert checks["1.1.5.3"].agrees_with == ["uncapped"]
    assert checks["1.1.9.3"].agrees_with == ["capped"]
    # a tie goes to the plain ratio; a group without votes accepts either
    tie = [fig("1.1.7.1", "0.5", 1, "100%"), fig("1.1.7.2", "0.5", 1, "200%")]
    assert outcomes(tie) == [("1.1.7.1", "completion_mismatch"), ("1.1.7.2", "ok")]
    assert outcomes([fig("1.1.8.1", "2", 2, "100%")]) == [("1.1.8.1", "ok")]


# -- the seed report ---------------------------------------------------------------------------

# Every row of the seed's KPI tables whose name starts with a code (218; checked against
# ``grep -P '\t' | grep -cP '(^|\t)\d{1,2}(\.\d{1,2}){2,3}'`` on the seed, no code twice).
SEED_ROWS = 218

# The completion_mismatch rows, in table order: (code, seed line, reported, agrees with).
SEED_COMPLETION_MISMATCHES = [
    ("1.1.1.1", 681, 200.0, ["final_half"]),
    ("1.1.1.23", 707, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.1.24", 708, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.2.8", 792, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.2.9", 793, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.2.10", 794, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.4.2", 874, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.4.6", 878, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.4.7", 879, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.5.5", 934, 200.0, ["uncapped", "final_half"]),
    ("1.1.6.3", 973, 116.0, ["uncapped", "final_half"]),
    ("1.1.6.8", 978, 175.0, ["uncapped", "final_half"]),
    ("1.1.8.6", 1067, 208.0, ["uncapped", "final_half"]),
    ("1.1.9.7", 1114, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.9.8", 1115, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.9.10", 1117, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.9.13", 1120, 100.0, ["capped", "final_half_capped", "final_capped"]),
    ("1.1.10.1", 1154, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.2", 1155, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.4", 1157, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.5", 1158, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.7", 1160, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.8", 1161, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("1.1.10.9", 1162, 100.0, ["capped", "final_half_capped", "final", "final_capped"]),
    ("2.1.1", 1202, 286.0, ["uncapped", "final_half"]),
    ("2.1.2", 1203, 200.0, ["uncapped", "final_half"]),
    ("2.1.7", 1208, 219.0, ["uncapped", "final_half"]),
]
# Checked by hand against the seed text (line: cells; arithmetic; why it is a mismatch):
#  681  "1.1.1.1 专业人才培养方案汇编（套/年）	1	1	1	200%": 1 ÷ 1 = 100 %, reported 200 %;
#       no capping gives 200 %; only 1 ÷ (期满 1 × 50 %) = 200 % does.
#  707  "1.1.1.23 构建“校-省-国”技能竞赛机制(套)	1	0.5	1	100%": 1 ÷ 0.5 = 200 %, reported
#       100 % (capped) while table 2-46 reports ratios above 100 % (e.g. 1.1.1.4 36 ÷ 25 = 144 %).
#  708  "1.1.1.24 参加各类学生竞赛人数(人次/年)	3000	1500	30032	100%": 30032 ÷ 1500 =
#       2002.13 %, reported 100 % in the same uncapped table.
#  792  "1.1.2.8 建设高端智库（个）	1	0.5	1	100%": 1 ÷ 0.5 = 200 %, reported 100 %; the rest of
#       table 2-50 is uncapped (1.1.2.1 11 ÷ 5 = 220 %, reported 220 %).
#  874  "1.1.4.2 引培校级教学名师…（人）	30	15	87	100%": 87 ÷ 15 = 580 %, reported 100 %; the
#       group 1.1.4 votes 4 uncapped (1.1.4.1 5 ÷ 4 = 125 %, .3 200 %, .4 180 %, .5 140 %) to 3.
#  934  "1.1.5.5 校外实践教学基地（个）	30	15	30	200%": 30 ÷ 15 = 200 % is right as a ratio, but
#       the other rows of table 2-62 cap (1.1.5.2 398 ÷ 100 = 398 %, reported 100 %).
#  973  "1.1.6.3 社会培训到款额累计达到（万元）	6000	3000	3494	116%": 3494 ÷ 3000 = 116.47 %,
#       rounds to 116 %, but table 2-66 caps 4 rows (1.1.6.2 7.69 ÷ 0.25, reported 100 %) to 2.
#  1067 "1.1.8.6 智慧课室 (间)	≥ 120	≥ 60	125	208%": 125 ÷ 60 = 208.33 % ≈ 208 %, while the other
#       rows above target in table 2-74 report 100 % (1.1.8.2 80 ÷ 20 = 400 %, reported 100 %).
#  1120 "1.1.9.13 建设中外人文交流项目(个)	1	0.5	3	100%": 3 ÷ 0.5 = 600 %, reported 100 % in
#       table 2-78, which is uncapped (1.1.9.2 4 ÷ 1.5 = 266.7 %, reported 267 %).
#  1202 "2.1.1 为大湾区制造业培养复合型技术技能人才数（人/年）	6000	3000	8590	286%":
#       8590 ÷ 3000 = 286.33 % ≈ 286 %, but table 2-85 caps 7 rows (2.1.3 398 ÷ 250, reported 100 %).
#  1208 "2.1.7 接收省内外贫困生、民族生人数（人/年）	1000	500	1097	219%": 1097 ÷ 500 = 219.4 %
#       ≈ 219 %, in the same capped table.
SEED_BELOW_TARGET = [
    # 729 "1.2.1.11 国家级教育教学改革研究与实践项目(项)	3	1.5	1	100%": 1 ÷ 1.5 = 66.67 %
    ("1.2.1.11", 729),
    # 804 "1.2.2.6 省级科研项目（项）	100	50	41	100%": 41 ÷ 50 = 82 %
    ("1.2.2.6", 804),
]


def seed_checks(path: Path) -> tuple[list, list]:
    parsed = parse_kpi_file(path)
    figures = [
        KpiFigures(
            r.code,
            r.name,
            r.final_target,
            r.midterm_target,
            r.achieved_value,
            r.achieved_text,
            r.reported_completion,
            r.completion_text,
            r.source_ref,
        )
        for r in parsed.rows
    ]
    return parsed.rows, check_completion(figures)


def test_seed_report_rows(seed_report: Path) -> None:
    parsed = parse_kpi_file(seed_report)
    assert len(parsed.rows) == SEED_ROWS
    assert len({r.code for r in parsed.rows}) == SEED_ROWS
    by_code = {r.code: r for r in parsed.rows}
    assert Counter(r.category for r in parsed.rows) == {
        "数量": 113,
        "质量": 84,
        "时效": 3,
        "社会效益": 11,
        "可持续影响": 7,
    }
    # the rows the issue names, as written
    r = by_code["1.1.5.1"]
    assert (r.name, r.unit, r.category, r.final_target, r.midterm_target) == (
        "建设具有国家示范性的数字化职教集团（联盟）",
        "个",
        "数量",
        "1",
        "0.5",
    )
    assert (r.achieved_value, r.reported_completion, r.source_ref) == (1.0, 100.0, "第 930 行")
    r = by_code["1.2.10.3"]
    assert (r.midterm_target, r.achieved_text, r.achieved_value) == ("已获校级创新团队", "", None)
    r = by_code["1.2.5.1"]
    assert (r.achieved_text, r.achieved_value) == ("立项 1 个，23 年申报 1 个", None)
    r = by_code["1.1.10.10"]
    assert (r.final_target, r.midterm_target, r.achieved_value, r.completion_text) == (
        "33%",
        "16.5%",
        35.6,
        "216%",
    )
    # a row broken over a page: its name's unit and the rest of its sentence come back
    r = by_code["1.2.7.3"]
    assert (r.name, r.unit) == ("成立学校理事会", "个")
    assert r.achieved_text.endswith("建立内部治理主体和社会参与协调支撑的治理结构和机制。")
    # a category split into 数 / 量指标 over a page break takes its code group's (1.2.*)
    assert by_code["1.2.8.1"].category == by_code["1.2.8.2"].category == "质量"
    assert by_code["2.2.4"].achieved_text.endswith("治理能力进一步提升。")
    # rows with figures but no code are reported, not imported
    assert parsed.warnings == [
        "第 983 行：“国家级教师素质提高计划培训项目（个）”没有指标编号，未导入",
        "第 984 行：“省级教师素质提高计划培训项目（个）”没有指标编号，未导入",
        "第 985 行：“省级继续教育质量工程项目（个）”没有指标编号，未导入",
        "第 986 行：“省级粤菜师傅培训中心（个）”没有指标编号，未导入",
    ]


def test_seed_report_completion_findings(seed_report: Path) -> None:
    rows, checks = seed_checks(seed_report)
    line = {r.code: int(r.source_ref.split()[1]) for r in rows}
    mismatches = [
        (c.code, line[c.code], c.reported, c.agrees_with)
        for c in checks
        if c.outcome == "completion_mismatch"
    ]
    assert mismatches == SEED_COMPLETION_MISMATCHES
    below = [
        (c.code, line[c.code]) for c in checks if c.outcome == "below_target_reported_complete"
    ]
    assert below == SEED_BELOW_TARGET
    assert Counter(c.outcome for c in checks) == {
        "ok": 164,
        "completion_mismatch": 27,
        "achieved_not_numeric": 24,
        "below_target_reported_complete": 2,
        "target_not_numeric": 1,
    }
    by_code = {c.code: c for c in checks}
    assert [c for c in checks if c.outcome == "target_not_numeric"][0].code == "1.2.1.35"
    c = by_code["1.1.1.1"]
    assert (round(c.computed, 2), c.reported, c.convention) == (100.0, 200.0, "uncapped")
    assert "实现值÷(期满目标值×50%)" in c.detail
    c = by_code["1.1.6.3"]
    assert (round(c.computed, 2), c.tolerance, c.convention) == (116.47, 0.5, "capped")
    assert "本组其余指标封顶100%报告" in c.detail
    assert "按“实现值÷中期目标值”计算则一致" in c.detail
