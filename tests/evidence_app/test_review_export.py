"""The 网评 outputs: ``evidence review export --json | --xlsx`` and the overview's workbook
download: marks per indicator and expert, the 调阅 requests with their state, and the
入校问题清单 grouped by level-1 indicator (the lead's final mark decides where there is one)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from evidence_app.experts.access import end_of_access, invite_expert
from evidence_app.review.export import MARK_HEADER, QUESTION_HEADER, REQUEST_HEADER
from evidence_app.review.marks import set_final_mark, set_mark
from storage import AuditLog, Indicator

FORMULA = '=HYPERLINK("http://evil.example","点我")'


@pytest.fixture
def marked(app, runtime, make_framework) -> dict[str, Any]:
    fid = make_framework()["framework_id"]
    ends = end_of_access(days=7)
    with runtime.unit_of_work() as s:

        def leaf(code: str) -> Indicator:
            return s.scalars(
                select(Indicator).where(Indicator.framework_id == fid, Indicator.code == code)
            ).one()

        wang = invite_expert(s, framework_id=fid, name="王专家", expires_at=ends)
        li = invite_expert(s, framework_id=fid, name="李专家", expires_at=ends, indicators=["2.3"])
        lead = invite_expert(s, framework_id=fid, name="张组长", expires_at=ends, lead=True)
        w, y, z = wang.expert, li.expert, lead.expert
        set_mark(s, w, leaf("1.1.1"), "more", score=1, request_text="请提供专业设置调研报告原件")
        set_mark(s, w, leaf("2.3.4"), "question", comment=FORMULA, score=1)
        set_mark(s, y, leaf("2.3.4"), "ok", score=1.5, comment="材料齐全")
        set_mark(s, y, leaf("2.3.5"), "question", comment="学徒制合同是否签订？")
        set_final_mark(s, z, leaf("2.3.5"), "question", comment="核查学徒制三方协议原件")
        set_mark(s, w, leaf("2.3.6"), "question", comment="标准是否发布？")
        set_final_mark(s, z, leaf("2.3.6"), "ok", score=1)  # the lead decided: no question
        set_mark(s, w, leaf("3.1.1"), "question", comment="科研平台批文？")
        headers = {"lead": lead.api_token, "wang": wang.api_token}
        ids = {"lead": z.id, "wang": w.id}
    return {"fid": fid, "headers": headers, "ids": ids}


def test_json_export(invoke, marked) -> None:
    result = invoke("review", "export", "--framework", marked["fid"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"marks", "requests", "questions"} <= set(report)
    marks = [(m["code"], m["expert"], m["mark"], m["score"], m["final"]) for m in report["marks"]]
    assert marks == [
        ("1.1.1", "王专家", "more", 1, False),
        ("2.3.4", "王专家", "question", 1, False),
        ("2.3.4", "李专家", "ok", 1.5, False),
        ("2.3.5", "李专家", "question", None, False),
        ("2.3.5", "张组长", "question", None, True),
        ("2.3.6", "王专家", "question", None, False),
        ("2.3.6", "张组长", "ok", 1, True),
        ("3.1.1", "王专家", "question", None, False),
    ]
    assert report["marks"][0]["name"] == "专业设置与区域重点产业匹配度"
    assert {"comment", "symbol", "label"} <= set(report["marks"][0])
    [request] = report["requests"]
    assert (request["indicator"]["code"], request["status"], request["expert"]) == (
        "1.1.1",
        "open",
        "王专家",
    )
    assert request["text"] == "请提供专业设置调研报告原件" and request["created_at"]
    assert request["answered_at"] is None and request["documents"] == []
    grouped = [
        (g["code"], g["name"], [(q["code"], q["question"], q["final"]) for q in g["questions"]])
        for g in report["questions"]
    ]
    assert grouped == [
        (
            "2",
            "提质",
            [
                ("2.3.4", FORMULA, False),
                ("2.3.5", "核查学徒制三方协议原件", True),  # the lead's, not 李's
            ],
        ),
        ("3", "强服务", [("3.1.1", "科研平台批文？", False)]),
    ]
    assert report["summary"]["questions"] == 3


def test_workbook_is_ready_to_print(invoke, marked, tmp_path: Path) -> None:
    out = tmp_path / "out" / "网评.xlsx"
    result = invoke("review", "export", "--framework", marked["fid"], "--xlsx", out)
    assert result.exit_code == 0, result.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["评审意见", "调阅清单", "入校问题清单"]
    for ws, header in zip(
        wb.worksheets, (MARK_HEADER, REQUEST_HEADER, QUESTION_HEADER), strict=True
    ):
        assert [c.value for c in ws[1]] == header, ws.title
        assert ws.freeze_panes == "A2", ws.title
        assert ws.print_title_rows == "$1:$1", ws.title
        assert ws.column_dimensions["B"].width >= 10, ws.title
    marks = wb["评审意见"]
    rows = list(marks.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 8
    formula = next(c for row in marks.iter_rows(min_row=2) for c in row if c.value == FORMULA)
    assert formula.data_type == "s"  # text, never a live formula
    assert formula.alignment.wrap_text
    assert rows[0][4] == "—— 破折号（调阅）" and rows[4][7] == "是"
    requests = list(wb["调阅清单"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[4], r[5]) for r in requests] == [
        ("1.1.1", "请提供专业设置调研报告原件", "待答复")
    ]
    questions = list(wb["入校问题清单"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1], r[5]) for r in questions] == [
        ("2 提质", "2.3.4", "专家意见"),
        ("2 提质", "2.3.5", "组长定稿"),
        ("3 强服务", "3.1.1", "专家意见"),
    ]


def test_command_errors(invoke, marked) -> None:
    neither = invoke("review", "export", "--framework", marked["fid"])
    assert neither.exit_code == 1 and "--json 或 --xlsx" in neither.output
    missing = invoke("review", "export", "--framework", 999, "--json")
    assert missing.exit_code == 1 and "指标体系 999 不存在" in missing.output


def test_the_overview_downloads_the_same_workbook(app, runtime, marked, make_user, login) -> None:
    auditor = login(make_user("auditor"))
    response = auditor.get(f"/frameworks/{marked['fid']}/marks.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert load_workbook(io.BytesIO(response.data)).sheetnames == [
        "评审意见",
        "调阅清单",
        "入校问题清单",
    ]
    lead = app.test_client()
    with lead.session_transaction() as s:
        s["_user_id"] = f"{marked['ids']['lead']}:0"
    assert lead.get("/expert/overview.xlsx").status_code == 200
    wang = app.test_client()
    with wang.session_transaction() as s:
        s["_user_id"] = f"{marked['ids']['wang']}:0"
    assert wang.get("/expert/overview.xlsx").status_code == 403  # not the lead
    assert (
        login(make_user("staff")).get(f"/frameworks/{marked['fid']}/marks.xlsx").status_code == 403
    )
    with runtime.session() as s:
        exports = s.scalars(select(AuditLog.action).where(AuditLog.action == "review.export"))
        assert len(list(exports)) == 2
