"""计分方法 of the fixture self-assessment table: every rule parsed (points asserted on each
side of every threshold) or listed as not computable; other texts as the parser reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence_app.frameworks import parse_framework_file
from evidence_app.kpi import parse_rule

QUALITATIVE = [
    "1.2.1",
    "1.2.2",
    "1.4.1",
    "2.1.1",
    "2.1.2",
    "2.1.3",
    "2.1.4",
    "2.1.5",
    "2.2.1",
    "2.2.2",
    "2.2.3",
    "2.2.4",
    "2.3.1",
    "2.3.2",
    "2.3.5",
    "2.3.6",
    "2.4.3",
    "2.5.6",
    "2.7.1",
    "3.3.1",
    "3.4.1",
    "3.4.2",
    "3.4.3",
    "3.4.4",
]

V = "value"
R = "reference"


def steps(*pairs: tuple[float, float], reference: float | None = None) -> list:
    """[(inputs, points)] for a one-value rule (with a fixed reference when given)."""
    out = []
    for value, points in pairs:
        inputs = {V: value} if reference is None else {V: value, R: reference}
        out.append((inputs, points))
    return out


# Reference bands of 1.3 / 1.1 / 1.0 times the reference, with the reference at 100 and at 3
# (3.9 ÷ 3 is 1.2999999999999998 in floating point: it must still count as 1.3 times).
def ref_bands_4(top: float, second: float, third: float) -> list:
    return steps(
        (130, top),
        (129.99, second),
        (110, second),
        (109.99, third),
        (100, third),
        (99.99, 0),
        (0, 0),
        reference=100,
    ) + steps((3.9, top), (3.3, second), (3, third), reference=3)


def ref_bands_3(top: float, second: float) -> list:
    return steps((110, top), (109.99, second), (100, second), (99.99, 0), reference=100) + steps(
        (3.3, top), (3, second), reference=3
    )


EXPECTED: dict[tuple[str, int], tuple[str, list]] = {
    # ≥95%，得2分；<95% 但≥90%，得1.5分；<90% 但≥85%，得1分；<85%，不得分
    ("1.1.1", 0): (
        "bands",
        steps((100, 2), (95, 2), (94.99, 1.5), (90, 1.5), (89.99, 1), (85, 1), (84.99, 0), (0, 0)),
    ),
    ("1.2.3", 0): (
        "bands",
        steps((30, 2), (29.99, 1.5), (25, 1.5), (24.99, 1), (20, 1), (19.99, 0)),
    ),
    # 达到合格要求得1分（4000 或 3000 元/生，录入参照值）；每高500元/生加0.2分，最高2分；
    # 每少500元/生减0.2分，最低0分
    ("1.3.1", 0): (
        "linear",
        steps(
            (4000, 1),
            (4500, 1.2),
            (4250, 1.1),
            (6500, 2),
            (7000, 2),
            (3500, 0.8),
            (1500, 0),
            (1000, 0),
            reference=4000,
        )
        + steps((3000, 1), (3499.99, 1.2), reference=3000),
    ),
    ("2.2.5", 0): ("bands", ref_bands_3(1, 0.5)),
    ("2.3.3", 0): ("bands", ref_bands_4(1.5, 1, 0.5)),
    ("2.3.4", 0): ("bands", ref_bands_4(1.5, 1, 0.5)),
    ("2.4.1", 0): ("bands", ref_bands_3(1, 0.5)),
    ("2.4.2", 0): ("bands", steps((95, 1), (94.99, 0.5), (85, 0.5), (84.99, 0))),
    # 生师比达到 18:1（或 16:1、13:1，录入参照值）得1.5分；每高1扣0.1分，最低0分
    ("2.5.1", 0): (
        "linear",
        steps((18, 1.5), (12, 1.5), (19, 1.4), (19.5, 1.35), (33, 0), (40, 0), reference=18)
        + steps((16, 1.5), (17, 1.4), reference=16),
    ),
    # 年度要求80%，达到得1分；每高1%加0.2分，最高1.5分；每低1%扣0.2分，最低0分
    ("2.5.2", 0): (
        "linear",
        steps((80, 1), (81, 1.2), (82, 1.4), (82.5, 1.5), (90, 1.5), (79, 0.8), (75, 0), (60, 0)),
    ),
    # ≥20%得1分；低于20%每低1%减0.2分，最低0；高于20%每高1%加0.1分，最高1.5分
    ("2.5.3", 0): (
        "linear",
        steps((20, 1), (24, 1.4), (25, 1.5), (30, 1.5), (19, 0.8), (15, 0), (10, 0)),
    ),
    # 10%得1分；±0.1分/1%，最高1.5分，最低0；连续实践3个月以上的每5人另加0.1分，总分≤1.5
    ("2.5.4", 0): (
        "linear",
        steps((10, 1), (15, 1.5), (20, 1.5), (9, 0.9), (0, 0))
        + [
            ({V: 12, "bonus": 4}, 1.2),
            ({V: 12, "bonus": 5}, 1.3),
            ({V: 12, "bonus": 10}, 1.4),
            ({V: 12, "bonus": 100}, 1.5),
        ],
    ),
    # ≥25%得1分；低于25%每低2%减0.1分，最低0分
    ("2.5.5", 0): ("linear", steps((25, 1), (30, 1), (23, 0.9), (21, 0.8), (5, 0), (0, 0))),
    ("2.6.1", 0): ("bands", steps((5, 1), (4.99, 0.5), (3, 0.5), (2.99, 0))),
    ("2.6.2", 0): (
        "bands",
        steps((90, 2), (89.99, 1.5), (85, 1.5), (84.99, 1), (80, 1), (79.99, 0)),
    ),
    ("2.6.3", 0): (
        "bands",
        steps((85, 1.5), (84.99, 1), (80, 1), (79.99, 0.5), (75, 0.5), (74.99, 0)),
    ),
    ("2.6.4", 0): (
        "bands",
        steps((85, 1.5), (84.99, 1), (80, 1), (79.99, 0.5), (75, 0.5), (74.99, 0)),
    ),
    # counted items, capped at 5
    ("3.1.1", 0): (
        "items",
        [
            ({"item1": 1}, 1),
            ({"item2": 1}, 0.2),
            ({"item3": 1}, 1),
            ({"item4": 1}, 0.5),
            ({"item5": 1}, 0.1),
            ({"item6": 1}, 1),
            ({"item7": 1}, 0.5),
            ({"item1": 2, "item6": 2}, 4),
            ({"item1": 2, "item6": 2, "item7": 1}, 4.5),
            ({"item1": 2, "item6": 2, "item7": 2}, 5),
            ({"item1": 2, "item6": 2, "item7": 1, "item2": 3}, 5),
            ({"item1": 6}, 5),
        ],
    ),
    # 最多的高校得满分3分，其余按比例；总量与增长率两者取高分
    ("3.1.2", 0): (
        "proportional",
        [
            ({V: 50, R: 100}, 1.5),
            ({V: 100, R: 100}, 3),
            ({V: 50, R: 100, "value2": 9, "reference2": 10}, 2.7),
            ({V: 90, R: 100, "value2": 5, "reference2": 10}, 2.7),
            ({"value2": 10, "reference2": 10}, 3),
        ],
    ),
    ("3.2.1", 0): ("bands", ref_bands_4(2, 1.5, 1)),
    ("3.2.2", 0): ("bands", ref_bands_4(1.5, 1, 0.5)),
    ("3.2.3", 0): ("bands", ref_bands_3(1, 0.5)),
    # ≥1得1分；低于1每低0.1减0.2分，最低0；高于1每高0.1加0.2分，最高1.5分
    ("3.2.4", 0): (
        "linear",
        steps((1, 1), (1.1, 1.2), (1.25, 1.5), (1.3, 1.5), (0.9, 0.8), (0.5, 0), (0.4, 0)),
    ),
    # ≥1.5 万元得3分；<1.5 但≥1.2 得2分；<1.2 不得分
    ("4.1.1", 0): ("bands", steps((1.5, 3), (1.49, 2), (1.2, 2), (1.19, 0))),
    ("4.1.1", 1): (
        "bands",
        steps((30, 3), (29.99, 2), (20, 2), (19.99, 1), (15, 1), (14.99, 0)),
    ),
    # 公办：<55% 2分，55%≤占比<60% 1.5分，60%≤占比≤65% 1分，>65% 0分；
    # 民办：>40% 2分，35%≤占比≤40% 1.5分，<35% 0分
    ("4.2.1", 0): (
        "schemes",
        [
            ({"scheme": "公办", V: 54.99}, 2),
            ({"scheme": "公办", V: 55}, 1.5),
            ({"scheme": "公办", V: 59.99}, 1.5),
            ({"scheme": "公办", V: 60}, 1),
            ({"scheme": "公办", V: 65}, 1),
            ({"scheme": "公办", V: 65.01}, 0),
            ({"scheme": "民办", V: 40.01}, 2),
            ({"scheme": "民办", V: 40}, 1.5),
            ({"scheme": "民办", V: 35}, 1.5),
            ({"scheme": "民办", V: 34.99}, 0),
        ],
    ),
    ("4.2.2", 0): ("bands", ref_bands_4(2, 1.5, 1)),
    # 差值≥10%得3分，0≤差值<10%得2分，-10%≤差值<0得1分，差值<-10%不得分
    ("4.3.1", 0): (
        "bands",
        steps((10, 3), (9.99, 2), (0, 2), (-0.01, 1), (-10, 1), (-10.01, 0)),
    ),
    ("4.3.1", 1): (
        "bands",
        steps(
            (95, 3), (94.99, 2), (90, 2), (89.99, 1.5), (85, 1.5), (84.99, 1), (80, 1), (79.99, 0)
        ),
    ),
}


@pytest.fixture(scope="module")
def leaves(framework_fixtures: Path) -> dict:
    parsed = parse_framework_file(framework_fixtures / "A类规划自评打分表.docx")
    return {(n.code, n.variant): n for n in parsed.leaves}


def test_every_rule_is_parsed_or_not_computable(leaves: dict) -> None:
    assert len(leaves) == 53
    kinds = {key: parse_rule(n.scoring_rule, n.max_points).kind for key, n in leaves.items()}
    assert sorted(code for (code, _), kind in kinds.items() if kind == "qualitative") == QUALITATIVE
    computable = {key: kind for key, kind in kinds.items() if kind != "qualitative"}
    assert computable == {key: kind for key, (kind, _) in EXPECTED.items()}
    assert len(computable) == 29 and "unparsed" not in kinds.values()


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: f"{k[0]}#{k[1]}")
def test_points_on_each_side_of_every_threshold(leaves: dict, key: tuple[str, int]) -> None:
    node = leaves[key]
    rule = parse_rule(node.scoring_rule, node.max_points)
    got = [(inputs, rule.compute(inputs).points) for inputs, _ in EXPECTED[key][1]]
    assert got == EXPECTED[key][1]


def test_what_a_rule_needs_and_gives(leaves: dict) -> None:
    rule = parse_rule(leaves[("1.3.1", 0)].scoring_rule, 2)
    assert [(i.key, i.label) for i in rule.inputs()] == [
        ("value", "实际值"),
        ("reference", "合格要求"),
    ]
    assert rule.inputs()[1].hint == (
        "综合、师范、民族、工科、农林、医学类院校：4000；财经、政法、体育、艺术类院校：3000"
    )
    assert rule.compute({V: 4000}).missing == ["合格要求"]
    # partial steps count in proportion; the whole-step reading is kept alongside
    score = rule.compute({V: 4250, R: 4000})
    assert (score.points, score.alternatives) == (1.1, {"whole_steps": 1.0})
    # a bonus not entered leaves a range up to the cap
    rule = parse_rule(leaves[("2.5.4", 0)].scoring_rule, 1.5)
    assert (rule.compute({V: 12}).points, rule.compute({V: 12}).upper) == (1.2, 1.5)
    assert rule.inputs()[1].label == "年度连续到企业实践3个月以上（人数）"
    # two measures, the higher counts; one of them alone gives a range
    rule = parse_rule(leaves[("3.1.2", 0)].scoring_rule, 3)
    assert (rule.compute({V: 50, R: 100}).points, rule.compute({V: 50, R: 100}).upper) == (1.5, 3)
    assert rule.notes == ["以教育厅每年组织的普通高校科技、社科年度统计报表数据为准"]
    # the scheme must be chosen
    rule = parse_rule(leaves[("4.2.1", 0)].scoring_rule, 2)
    assert rule.compute({V: 60}).missing == ["适用口径（公办/民办）"]
    # a clause without a bound is kept as a condition
    rule = parse_rule(leaves[("2.6.2", 0)].scoring_rule, 2)
    assert rule.notes == ["没有参加调查或者有效回收率不符合要求的，得 0 分"]
    rule = parse_rule(leaves[("3.1.1", 0)].scoring_rule, 5)
    assert [i.label for i in rule.items] == [
        "新增省部级以上科研平台",
        "新增市厅级科研平台",
        "以第一完成单位获省部级以上科研奖励",
        "以第二、第三完成单位获省部级以上科研奖励",
        "以其他排序参与获得省部级以上科研奖励",
        "新增国家级科研项目",
        "新增省级科研项目",
    ]


def test_rules_read_the_same_from_docx_xlsx_and_the_seed_text(
    leaves: dict, framework_fixtures: Path, shared_dir: Path
) -> None:
    """The XLSX and the seed's text (LaTeX ``$\\geq 95\\%$``) give the same parsed rules."""
    sources = [framework_fixtures / "A类规划自评打分表.xlsx"]
    sources += sorted((shared_dir / "seeds").glob("003_*.txt"))
    docx = {k: parse_rule(n.scoring_rule, n.max_points).as_json() for k, n in leaves.items()}
    for source in sources:
        other = parse_framework_file(source)
        got = {
            (n.code, n.variant): parse_rule(n.scoring_rule, n.max_points).as_json()
            for n in other.leaves
        }
        assert got == docx, source.name


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("由专家根据学校提供的材料综合判断给分", "qualitative", None),
        ("按实际情况酌情给分", "unparsed", "未识别出阈值、逐级加减分、计数或比例规则"),
        ("≥95%，得2分；<90%，不得分。", "unparsed", "区间在 90 与 95 之间有缺口或重叠"),
        ("≥95%，得2分。", "unparsed", "低于 95 的值没有对应分数"),
        (
            "≥所在规划学校平均水平的1.1倍，得1分；<1.1，不得分",
            "unparsed",
            "阈值混用了绝对数值和“所在规划学校水平”的倍数",
        ),
        ("", "none", None),
    ],
)
def test_rules_that_are_not_computed(text: str, kind: str, reason: str | None) -> None:
    rule = parse_rule(text, 2)
    assert rule.kind == kind and not rule.computable
    if reason is not None:
        assert rule.reason == reason


def test_other_wordings() -> None:
    rule = parse_rule(
        "$\\geq 95\\%$ ，得2分； $<95\\%$ 但 $\\geq 90\\%$ ，得1.5分； $<90\\%$ ，不得分。", 2
    )
    assert rule.kind == "bands"
    assert [rule.compute({V: v}).points for v in (95, 94.9, 90, 89.9)] == [2, 1.5, 1.5, 0]
    rule = parse_rule("≥所在规划学校水平，得1分；<所在规划学校水平，不得分。", 1)
    assert [rule.compute({V: v, R: 50}).points for v in (50, 49.9)] == [1, 0]
    assert rule.compute({V: 50}).missing == ["所在规划学校水平"]
