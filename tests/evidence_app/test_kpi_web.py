"""The indicator page: staff enter measured values, the page shows the computed points and the
mismatch with the self-score; other roles cannot post; KPI rows show their completion check."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_app.coverage.findings import compute_findings
from evidence_app.kpi import operations as kpi_service
from storage import AuditLog, Indicator, User
from tests.conftest import load_module


@pytest.fixture
def fw(make_framework) -> int:
    return make_framework()["framework_id"]


def indicator_id(session, fw: int, code: str, variant: int = 0) -> int:
    return session.scalars(
        select(Indicator.id).where(
            Indicator.framework_id == fw, Indicator.code == code, Indicator.variant == variant
        )
    ).one()


def text_of(response) -> str:
    """The page's text without tags, entities decoded, whitespace collapsed."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", html.unescape(body))


def test_staff_enter_measured_values(fw: int, session, make_user, login) -> None:
    staff = make_user("staff", "zhang")
    client = login(staff)
    ind = indicator_id(session, fw, "2.5.2")  # self-score 1.5
    page = client.get(f"/indicators/{ind}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert f'action="/indicators/{ind}/measurement"' in body
    assert 'name="value"' in body
    text = text_of(page)
    assert "计分核算" in text
    assert "计分规则 可计算：基准 80% 得 1 分；每高 1% 加 0.2 分；每低 1% 扣 0.2 分" in text

    # 81 %: 1 + 0.2 = 1.2 points, but 1.5 claimed
    response = client.post(f"/indicators/{ind}/measurement", data={"value": "81%"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    text = text_of(page)
    assert "已保存实际值：按计分方法得 1.2 分，与自评得分 1.5 分不符。" in text
    assert "按规则得分 1.2 分" in text
    assert (
        "自评分与计分方法不符：2.5.2 “双师型”专业课专任教师占比：实际值（%） 81，"
        "按计分方法得 1.2 分，自评 1.5 分" in text
    )
    assert 'value="81"' in page.get_data(as_text=True)  # the form shows what was entered
    session.expire_all()
    assert session.get(Indicator, ind).measured_value == 81.0
    entry = session.scalars(
        select(AuditLog).where(AuditLog.action == "indicator.measure").order_by(AuditLog.id)
    ).all()[-1]
    assert (entry.username, entry.object_id) == ("zhang", ind)
    assert entry.detail["after"] == {"value": 81.0} and entry.detail["points"] == 1.2

    found = [f for f in compute_findings(session, fw) if f.kind == "score_rule_mismatch"]
    assert [(f.codes, f.severity, f.as_json()["points"]) for f in found] == [
        (["2.5.2"], "high", 1.2)
    ]

    # the coverage page lists it through the findings (its cache sees the audited change)
    auditor = login(make_user("auditor", "zhao"))
    coverage = text_of(auditor.get(f"/coverage?framework={fw}"))
    assert "自评分与计分方法不符" in coverage
    assert "实际值（%） 81，按计分方法得 1.2 分，自评 1.5 分" in coverage

    # 82.5 %: 1.5 points, as claimed: no mismatch
    client.post(f"/indicators/{ind}/measurement", data={"value": "82.5"})
    text = text_of(client.get(f"/indicators/{ind}"))
    assert "按规则得分 1.5 分" in text and "自评分与计分方法不符" not in text
    assert "自评分与计分方法不符" not in text_of(auditor.get(f"/coverage?framework={fw}"))

    # a rule measured against a reference: 120 ÷ 100 = 1.2 times → 1 point, 1.5 claimed
    ref = indicator_id(session, fw, "2.3.3")
    response = client.post(
        f"/indicators/{ref}/measurement",
        data={"value": "120", "reference": "100"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    data = response.get_json()
    assert (data["points"], data["values"], data["mismatch"]["direction"]) == (
        1.0,
        {"value": 120.0, "reference": 100.0},
        "higher",
    )
    # the whole-step reading is named when it is the one that matches the self-score
    ratio = indicator_id(session, fw, "2.5.1")  # self-score 1.4
    client.post(f"/indicators/{ratio}/measurement", data={"value": "19.5:1", "reference": "18"})
    text = text_of(client.get(f"/indicators/{ratio}"))
    assert "按规则得分 1.35 分" in text
    assert "（按整级计算（不足一级不计）为 1.4 分，与自评一致）" in text

    report = kpi_service.check_report(session, fw)
    counts = report["scoring"]["counts"]
    assert (counts["parsed"], counts["not_computable"], counts["unparseable"]) == (29, 24, 0)
    assert (counts["measured"], counts["computed"], counts["mismatches"]) == (3, 3, 2)
    assert [f["codes"][0] for f in report["findings"]] == ["2.3.3", "2.5.1"]


def test_bad_measured_values_are_refused(fw: int, session, make_user, login) -> None:
    client = login(make_user("staff", "zhang"))
    ind = indicator_id(session, fw, "2.5.2")
    response = client.post(f"/indicators/{ind}/measurement", data={"value": "八十"})
    assert response.status_code == 302
    assert "实际值（%）“八十”不是数字" in text_of(client.get(response.headers["Location"]))
    response = client.post(
        f"/indicators/{indicator_id(session, fw, '2.3.3')}/measurement",
        data={"value": "120", "reference": "0"},
        headers={"Accept": "application/json"},
    )
    assert (response.status_code, response.get_json()) == (
        400,
        {"error": "所在规划学校平均水平不能为 0"},
    )
    qualitative = indicator_id(session, fw, "1.2.1")
    response = client.post(
        f"/indicators/{qualitative}/measurement",
        data={"value": "5"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "1.2.1 的计分方法定性评价（不可计算），无需录入实际值"}
    assert "计分规则 定性评价（不可计算）" in text_of(client.get(f"/indicators/{qualitative}"))
    session.expire_all()
    assert (
        session.scalars(select(Indicator).where(Indicator.measured_value.is_not(None))).all() == []
    )


@pytest.mark.parametrize("role", ["reviewer", "auditor"])
def test_other_roles_cannot_post_measured_values(
    fw: int, session, make_user, login, role: str
) -> None:
    ind = indicator_id(session, fw, "2.5.2")
    client = login(make_user(role, "li"))
    page = client.get(f"/indicators/{ind}")
    assert page.status_code == 200
    assert "计分核算" in text_of(page) and "measure-form" not in page.get_data(as_text=True)
    response = client.post(f"/indicators/{ind}/measurement", data={"value": "81"})
    assert response.status_code == 403
    session.expire_all()
    assert session.get(Indicator, ind).measured_value is None
    denied = session.scalars(select(AuditLog).where(AuditLog.action == "access.denied")).all()
    assert [d.detail["permission"] for d in denied] == ["upload"]


def test_limited_staff_only_for_their_indicators(
    fw: int, session, runtime, make_user, login
) -> None:
    from storage import UserAssignment

    staff = make_user("staff", "wang")
    mine = indicator_id(session, fw, "2.5.3")
    other = indicator_id(session, fw, "2.5.2")
    with runtime.session() as s:
        s.get(User, staff.id).limited_scope = True
        s.add(UserAssignment(user_id=staff.id, indicator_id=mine))
        s.commit()
    client = login(staff)
    assert client.post(f"/indicators/{other}/measurement", data={"value": "81"}).status_code == 403
    assert client.post(f"/indicators/{mine}/measurement", data={"value": "25"}).status_code == 302
    session.expire_all()
    assert session.get(Indicator, mine).measured_value == 25.0
    assert session.get(Indicator, other).measured_value is None


def test_anonymous_post_goes_to_login(fw: int, session, client) -> None:
    ind = indicator_id(session, fw, "2.5.2")
    response = client.post(f"/indicators/{ind}/measurement", data={"value": "81"})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_kpi_page_shows_the_completion_check(
    invoke, session, make_user, login, tmp_path: Path
) -> None:
    import json

    kpi_tests = load_module(Path(__file__).with_name("test_kpi_import.py"))
    path = kpi_tests.make_docx(tmp_path / "绩效指标.docx")
    result = invoke("kpi", "import", path, "--new-framework", "校企合作", "--json")
    fw = json.loads(result.output)["framework_id"]
    client = login(make_user("auditor", "zhao"))
    ind = indicator_id(session, fw, "1.1.5.3")
    text = text_of(client.get(f"/indicators/{ind}"))
    assert "绩效指标 类别 数量指标 期满目标值 9 中期目标值 4.5 中期实现值 9 报告完成度 100%" in text
    assert "核算完成度 200.00%（实现值 ÷ 中期目标值）" in text
    assert (
        "核对结果 完成度不一致：1.1.5.3 成立产业学院：实现值 9 ÷ 中期目标值 4.5 = 200%，报告完成度 100%；"
        "本组其余指标按实际比例报告（不封顶）；按“实现值÷中期目标值，封顶100%”计算则一致" in text
    )
    assert "来源 表 1 第 4 行" in text
    text = text_of(client.get(f"/indicators/{indicator_id(session, fw, '1.2.5.1')}"))
    assert (
        "核对结果 实现值无法核对：1.2.5.1 省级示范性产业学院：中期实现值“立项1个，23年申报1个”不是数字"
        in text
    )
    # the tree page lists the KPI branch
    page = client.get(f"/frameworks/{fw}")
    assert page.status_code == 200
    assert "绩效指标" in text_of(page) and "1.2.5.3" in text_of(page)
