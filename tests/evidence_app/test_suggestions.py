"""Suggested entries for files without a code, accepting them, and similar documents."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from evidence_app.coverage.minhash import minhash_signature, shingle_hashes
from evidence_app.coverage.operations import ENTRY_FILLED, compute_coverage
from evidence_app.suggestions.operations import (
    clean_name,
    similar_documents,
    suggest_for_document,
)
from storage import AuditLog, CatalogEntry, Document, DocumentPage, Indicator, TextSignature
from tests.factories import add_document, limit_scope

REPORT = "2022年专业设置与区域重点产业匹配度报告"  # 1.1.1-1
BANK = "广东工程职业技术学院学分银行实施方案"  # 2.1.4-8
SCAN_TEXT = "广东工程职业技术学院文件\n广东工程职业技术学院学分银行实施方柔\n为推进学分制改革，现将方案印发给你们。"


def _doc(session, runtime, fw, name, text, **kw):
    return add_document(
        session, runtime, fw, name, (name + text).encode(), pages=[(text, "ocr")], **kw
    )


@pytest.fixture
def library(runtime, make_framework):
    """The fixture framework and three files linked to nothing: one named after an entry's
    title, one scan known only by its text, one linked file; ids by name."""
    fw = make_framework()["framework_id"]
    with runtime.unit_of_work() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "2.3.4-1")).first()
        ids = {
            "report": _doc(s, runtime, fw, f"{REPORT}.pdf", "本报告分析专业设置。").id,
            "scan": _doc(s, runtime, fw, "扫描件007.pdf", SCAN_TEXT).id,
            "linked": _doc(s, runtime, fw, "2.3.4-1 订单班.txt", "订单班名单", entry=entry).id,
        }
    return fw, ids


def test_clean_name_drops_code_noise_and_sequence_numbers() -> None:
    assert clean_name("2.3.4-1 扫描件IMG_2031 学校章程(1).pdf") == "学校章程"
    assert clean_name("dir/2021年招生明细表_副本.xlsx") == "2021年招生明细表"
    assert clean_name("DSC0012.JPG") == "" and clean_name("VIDEO教学展示.mp4") == "VIDEO教学展示"


def test_file_named_after_an_entry_gets_it_first(runtime, library) -> None:
    fw, ids = library
    with runtime.session() as s:
        report = suggest_for_document(s, s.get(Document, ids["report"]), limit=3)
        scan = suggest_for_document(s, s.get(Document, ids["scan"]), limit=3)
    assert report["name"] == f"{REPORT}.pdf"
    assert [x["code"] for x in report["suggestions"]][:1] == ["1.1.1-1"]
    assert report["suggestions"][0]["title"] == REPORT
    assert 0 < report["suggestions"][0]["score"] <= 1
    assert report["suggestions"][0]["score"] > report["suggestions"][1]["score"]
    # a scan named 扫描件007: its text alone (one character misread) finds the entry
    assert scan["suggestions"][0]["code"] == "2.1.4-8"


def test_cli_json_shape(invoke, library) -> None:
    fw, ids = library
    out = invoke("suggest", "--framework", fw, "--unlinked", "--limit", "2", "--json")
    assert out.exit_code == 0, out.output
    results = json.loads(out.output)
    assert {r["document_id"] for r in results} == {ids["report"], ids["scan"]}
    for r in results:
        assert set(r) == {"document_id", "name", "suggestions"}
        assert len(r["suggestions"]) == 2
        assert set(r["suggestions"][0]) >= {"code", "title", "score"}
    one = invoke("suggest", "--framework", fw, "--document", ids["report"], "--json")
    assert json.loads(one.output)[0]["suggestions"][0]["code"] == "1.1.1-1"
    lines = invoke("suggest", "--framework", fw, "--document", ids["report"]).output.splitlines()
    assert lines[0] == f"#{ids['report']} {REPORT}.pdf"
    assert lines[1].split()[1:] == ["1.1.1-1", REPORT]
    neither = invoke("suggest", "--framework", fw)
    assert neither.exit_code == 1 and "--unlinked" in neither.output


def test_api_shape_scope_and_errors(runtime, library, make_user, token_for, client) -> None:
    fw, ids = library
    admin = token_for(make_user("admin"))
    answer = client.get(f"/api/v1/documents/{ids['report']}/suggestions?limit=5", headers=admin)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["document_id"] == ids["report"] and len(body["suggestions"]) == 5
    assert body["suggestions"][0]["code"] == "1.1.1-1"
    missing = client.get("/api/v1/documents/999999/suggestions", headers=admin)
    assert missing.status_code == 404 and "error" in missing.get_json()

    # limited staff: their own upload, suggestions only within 2.1.4; others' files refused
    staff = make_user("staff", "limited")
    limit_scope(runtime, staff, fw, ["2.1.4"])
    with runtime.unit_of_work() as s:
        s.get(Document, ids["scan"]).uploaded_by_id = staff.id
        s.get(Document, ids["report"]).uploaded_by_id = staff.id
    headers = token_for(staff)
    own = client.get(f"/api/v1/documents/{ids['report']}/suggestions", headers=headers)
    assert own.status_code == 200
    assert all(x["code"].startswith("2.1.4") for x in own.get_json()["suggestions"])
    refused = client.get(f"/api/v1/documents/{ids['linked']}/suggestions", headers=headers)
    assert refused.status_code == 403
    assert (
        client.get(f"/api/v1/documents/{ids['linked']}/similar", headers=headers).status_code == 403
    )


def test_accept_links_several_files_and_coverage_counts_them(
    runtime, library, make_user, login
) -> None:
    fw, ids = library
    web = login(make_user("staff"))
    page = web.get(f"/suggestions/?framework_id={fw}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'value="{ids["report"]}:1.1.1-1"' in html and "采用所选建议" in html
    csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = web.post(
        "/suggestions/accept",
        data={
            "csrf_token": csrf,
            "pick": [f"{ids['report']}:1.1.1-1", f"{ids['scan']}:2.1.4-8"],
        },
    )
    assert answer.status_code == 302
    with runtime.session() as s:
        assert [link.code for link in s.get(Document, ids["report"]).links] == ["1.1.1-1"]
        assert [link.code for link in s.get(Document, ids["scan"]).links] == ["2.1.4-8"]
        audits = s.scalars(select(AuditLog).where(AuditLog.action == "document.link")).all()
        assert {a.object_id for a in audits} == {ids["report"], ids["scan"]}
        coverage = compute_coverage(s, fw)
        states = {e.code: e.state for e in coverage.entries}
        assert states["1.1.1-1"] == ENTRY_FILLED
    assert "没有未关联的文件" in web.get(f"/suggestions/?framework_id={fw}").get_data(as_text=True)


def test_limited_staff_cannot_accept_outside_scope(runtime, library, make_user, login) -> None:
    fw, ids = library
    staff = make_user("staff", "limited")
    limit_scope(runtime, staff, fw, ["2.1.4"])
    with runtime.unit_of_work() as s:
        s.get(Document, ids["report"]).uploaded_by_id = staff.id
    web = login(staff)
    html = web.get(f"/documents/{ids['report']}").get_data(as_text=True)
    assert "建议条目" in html and f'value="{ids["report"]}:2.1.4-' in html
    assert f'value="{ids["report"]}:1.1.1-1"' not in html  # out of scope: not even suggested
    csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    web.post(
        "/suggestions/accept",
        data={"csrf_token": csrf, "one": f"{ids['report']}:1.1.1-1"},
    )
    web.post("/suggestions/accept", data={"csrf_token": csrf, "one": f"{ids['linked']}:2.1.4-1"})
    for junk in ("²:2.1.4-1", "9" * 5000 + ":2.1.4-1", "x:y", ":"):
        refused = web.post("/suggestions/accept", data={"csrf_token": csrf, "one": junk})
        assert refused.status_code == 302
    with runtime.session() as s:
        assert s.get(Document, ids["report"]).links == []
        assert [link.code for link in s.get(Document, ids["linked"]).links] == ["2.3.4-1"]


def test_similar_documents(runtime, library, make_user, token_for, client) -> None:
    fw, ids = library
    text = "校企合作订单培养协议书 迅达电梯有限公司 甲方乙方共同培养电梯安装维修人才" * 3
    with runtime.unit_of_work() as s:
        a = _doc(s, runtime, fw, "订单培养协议.pdf", text).id
        newer = _doc(s, runtime, fw, "订单培养协议（修订）.pdf", text + "第二版").id
        same = add_document(s, runtime, fw, "副本.pdf", ("订单培养协议.pdf" + text).encode())
        unrelated = ids["report"]
        # the audit keeps MinHash signatures: the newer version has one
        key = s.scalar(select(DocumentPage.id).where(DocumentPage.document_id == newer))
        sig = minhash_signature(shingle_hashes(text + "第二版")).tobytes()
        s.add(TextSignature(document_id=newer, pages_key=key, signature=sig))
        same_id = same.id
    with runtime.session() as s:
        found = similar_documents(s, s.get(Document, a))
    by_id = {f["document_id"]: f for f in found}
    assert by_id[same_id]["match"] == "bytes" and by_id[same_id]["similarity"] == 1.0
    assert by_id[newer]["match"] == "text" and by_id[newer]["similarity"] > 0.8
    assert unrelated not in by_id and a not in by_id
    assert [f["document_id"] for f in found][:2] == [same_id, newer]

    admin = token_for(make_user("admin"))
    answer = client.get(f"/api/v1/documents/{a}/similar", headers=admin).get_json()
    assert answer["document_id"] == a and answer["similar"][0]["document_id"] == same_id

    # limited staff see only what they may read, even in the similar list
    staff = make_user("staff", "limited")
    limit_scope(runtime, staff, fw, ["2.1.4"])
    with runtime.unit_of_work() as s:
        s.get(Document, a).uploaded_by_id = staff.id
    listed = client.get(f"/api/v1/documents/{a}/similar", headers=token_for(staff)).get_json()
    assert listed["similar"] == []


def test_similar_by_shared_rare_words(runtime, library, make_user, login) -> None:
    fw, ids = library
    with runtime.unit_of_work() as s:
        a = _doc(
            s, runtime, fw, "湾区项目总结.pdf", "粤港澳大湾区职业教育联盟 年度总结 港澳籍学生"
        ).id
        b = _doc(s, runtime, fw, "联盟简报.pdf", "本期简报：粤港澳大湾区职业教育联盟召开理事会").id
    web = login(make_user("admin"))
    html = web.get(f"/documents/{a}").get_data(as_text=True)
    assert "相似文件" in html and "联盟简报.pdf" in html and "共有少见词语" in html
    with runtime.session() as s:
        found = similar_documents(s, s.get(Document, a))
    assert [f["document_id"] for f in found] == [b]


def test_suggestion_page_is_paged(library, make_user, login, monkeypatch) -> None:
    from evidence_app.suggestions import routes

    fw, ids = library
    monkeypatch.setattr(routes, "PAGE_SIZE", 1)
    web = login(make_user("admin"))
    first = web.get(f"/suggestions/?framework_id={fw}").get_data(as_text=True)
    second = web.get(f"/suggestions/?framework_id={fw}&page=2").get_data(as_text=True)
    assert "第 1 / 2 页" in first and "扫描件007.pdf" in first and REPORT not in first
    assert f"{REPORT}.pdf" in second and "扫描件007.pdf" not in second


def test_entry_model_follows_an_edited_title(runtime, library) -> None:
    fw, ids = library
    with runtime.unit_of_work() as s:
        charter = _doc(s, runtime, fw, "学校章程.pdf", "").id
        before = suggest_for_document(s, s.get(Document, charter))["suggestions"]
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "2.3.6-3")).one()
        entry.title = "广东工程职业技术学院章程（核准稿）"
    with runtime.session() as s:
        after = suggest_for_document(s, s.get(Document, charter))["suggestions"]
    assert "2.3.6-3" not in [x["code"] for x in before]
    assert after[0]["code"] == "2.3.6-3"


def test_distant_runners_up_are_left_out(runtime, library) -> None:
    fw, _ = library
    with runtime.unit_of_work() as s:
        photo = _doc(s, runtime, fw, "IMG_2031.jpg", "港澳籍学生名单 张三 李四 王五 共计三名")
        found = suggest_for_document(s, photo, limit=3)["suggestions"]
    assert [x["code"] for x in found] == ["3.4.3-2"]


def test_a_department_folder_points_to_its_indicators(runtime, library) -> None:
    fw, _ = library
    with runtime.unit_of_work() as s:
        indicator = s.scalars(select(Indicator).where(Indicator.code == "2.1.4")).one()
        indicator.department = "教务处"
        loose = _doc(s, runtime, fw, "实施方案.docx", "")
        filed = _doc(s, runtime, fw, "实施方案.docx", "")
        filed.source_path = "教务处/实施方案.docx"
        s.flush()
        without = suggest_for_document(s, loose)["suggestions"]
        within = suggest_for_document(s, filed)["suggestions"]

    def ours(found):
        return [x["code"] for x in found if x["code"].startswith("2.1.4-")]

    # 实施方案 alone: one of 教务处's entries; from its folder: its entries come first
    assert ours(without) == ["2.1.4-8"]
    assert [x["code"] for x in within][:2] == ["2.1.4-8", "2.1.4-4"]


def test_upload_page_buttons_suggest_and_accept_as_json(runtime, library, make_user, login) -> None:
    fw, ids = library
    web = login(make_user("staff"))
    page = web.get("/upload").get_data(as_text=True)
    assert 'data-suggest-url="/suggestions/documents/0"' in page
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    found = web.get(
        f"/suggestions/documents/{ids['report']}", headers={"Accept": "application/json"}
    )
    assert found.get_json()["suggestions"][0]["code"] == "1.1.1-1"
    json_headers = {"Accept": "application/json", "X-CSRFToken": csrf}
    ok = web.post(
        "/suggestions/accept", data={"one": f"{ids['report']}:1.1.1-1"}, headers=json_headers
    )
    assert ok.status_code == 200 and ok.get_json()["linked"] == [f"{REPORT} → 1.1.1-1"]
    again = web.post(
        "/suggestions/accept", data={"one": f"{ids['report']}:1.1.1-1"}, headers=json_headers
    )
    assert again.status_code == 400 and "已经关联到 1.1.1-1" in again.get_json()["refused"][0]

    limited = make_user("staff", "limited")
    limit_scope(runtime, limited, fw, ["2.1.4"])
    other = login(limited).get(f"/suggestions/documents/{ids['scan']}")
    assert other.status_code == 403
