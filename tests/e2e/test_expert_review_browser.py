"""Browser test of online expert review (网评) as the people do it, in Debian's Chromium:

the admin invites an expert from the command line; the expert opens the sign-in link, sees
only the indicator they were invited for, views its evidence (stamped with their name),
marks it 破折号 with a 调阅 request; staff see the request under 调阅任务 and answer it by
uploading a file; the expert sees the answer as new and marks the indicator 句号; a
downloaded PDF carries the expert's name on every page; revocation ends the session.
Screenshots go to the test-artifacts folder.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.e2e._browser import evidence, login, shot
from tests.factories import multi_page_pdf

pytestmark = pytest.mark.browser

REQUEST = "请补充2022级迅达电梯订单班的校企合作协议"


def test_invite_mark_request_answer_and_mark_again(server, browser, framework_fixtures, tmp_path):
    from pypdf import PdfReader

    base, env = server["base"], server["env"]
    fid = json.loads(
        evidence(
            env, "framework", "import", str(framework_fixtures / "A类规划自评打分表.docx"), "--json"
        )
    )["framework_id"]
    evidence_pdf = tmp_path / "2.3.4-1 订单班学生名单.pdf"
    evidence_pdf.write_bytes(multi_page_pdf(["订单班学生名单 第一页", "迅达电梯订单班 第二页"]))
    other_pdf = tmp_path / "2.3.5-1 现代学徒制试点报告.pdf"
    other_pdf.write_bytes(multi_page_pdf(["现代学徒制试点报告"]))
    ingested = json.loads(
        evidence(
            env, "ingest", str(evidence_pdf), str(other_pdf), "--framework", str(fid), "--json"
        )
    )
    doc_id = next(d["id"] for d in ingested["documents"] if d["entry"] == "2.3.4-1")
    invitation = json.loads(
        evidence(
            env,
            "expert",
            "invite",
            "--framework",
            str(fid),
            "--name",
            "王专家",
            "--indicators",
            "2.3.4",
            "--days",
            "7",
            "--json",
        )
    )
    assert invitation["url"].startswith(base + "/expert/signin/")

    # -- the expert signs in with the link and marks 2.3.4 破折号 (调阅)
    expert_context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    expert = expert_context.new_page()
    expert.goto(invitation["url"])
    assert "王专家，您好" in expert.content()
    shot(expert, "expert-01-signin")
    expert.click("text=进入网评")
    expert.wait_for_url(base + "/expert")
    listed = expert.inner_text("table.expert-list")
    assert "2.3.4" in listed and "2.3.5" not in listed  # only the invited indicator
    shot(expert, "expert-02-home")
    expert.click("table.expert-list a")
    expert.wait_for_selector("#evidence")
    assert "现代学徒制试点报告" not in expert.content()
    expert.click("#evidence a:has-text('订单班学生名单')")
    expert.wait_for_function(
        "() => { const i = document.querySelector('#viewer img');"
        " return i && i.complete && i.naturalWidth > 0; }",
        timeout=30000,
    )
    shot(expert, "expert-03-viewer")
    expert.check("input[name=mark][value=more]")
    expert.fill("textarea[name=request]", REQUEST)
    expert.click("#mark button[type=submit]")
    expert.wait_for_selector(f"#requests >> text={REQUEST}")
    shot(expert, "expert-04-requested")

    # -- staff answer the request by uploading a file
    staff_context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    staff = staff_context.new_page()
    login(staff, base, "staff1")
    staff.goto(base + "/requests")
    assert REQUEST in staff.inner_text("main")
    shot(staff, "staff-01-requests")
    staff.click("a.button:has-text('上传材料答复')")
    staff.wait_for_selector("#upload-form")
    answer = tmp_path / "校企合作协议（迅达电梯）.pdf"
    answer.write_bytes(multi_page_pdf(["迅达电梯订单班校企合作协议"]))
    staff.set_input_files("#file-input", str(answer))
    staff.wait_for_selector("#progress-list .state-done", timeout=30000)
    shot(staff, "staff-02-answered")
    staff.goto(base + "/requests?status=all")
    assert "校企合作协议（迅达电梯）.pdf" in staff.inner_text("main")

    # -- the expert sees the answer as new and marks the indicator 句号
    expert.goto(base + "/expert")
    assert "新答复" in expert.inner_text("table.expert-list")
    shot(expert, "expert-05-new-answer")
    expert.click("table.expert-list a")
    expert.wait_for_selector("#requests")
    assert "校企合作协议（迅达电梯）.pdf" in expert.inner_text("#requests")
    expert.check("input[name=mark][value=ok]")
    expert.click("#mark button[type=submit]")
    expert.wait_for_selector("#requests")
    expert.goto(base + "/expert")
    assert "。" in expert.inner_text("table.expert-list")
    shot(expert, "expert-06-marked-ok")

    # -- a downloaded PDF carries the expert's name on every page
    download = expert.request.get(f"{base}/documents/{doc_id}/download")
    assert download.status == 200
    pages = PdfReader(io.BytesIO(download.body())).pages
    assert len(pages) == 2
    for page in pages:
        assert "王专家" in page.extract_text()

    # -- revocation ends the expert's session at once
    evidence(env, "expert", "revoke", str(invitation["expert_id"]))
    expert.goto(base + "/expert")
    assert re.search(r"/login", expert.url)
    expert.goto(invitation["url"])
    assert "已失效" in expert.content()
    expert_context.close()
    staff_context.close()
