"""网评: experts mark indicators (。 —— ？), a ``more`` mark opens a 调阅 request that staff
answer by uploading, the expert sees the answer as new and marks again; the lead merges.
Through the service, the API and the pages, on SQLite and PostgreSQL; with scope, expiry
and revocation."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evidence_app.experts.access import end_of_access, invite_expert, revoke_expert
from evidence_app.review import marks as marks_service
from evidence_app.review import requests as request_service
from storage import AuditLog, ExpertMark, Indicator, MaterialRequest, User, utcnow
from tests import factories

SECRET = "1.1.1-1 绝密专业设置调研报告.txt"  # outside the limited expert's scope
ORDER = "2.3.4-1 订单学明细表.txt"


def _indicator(session, fid: int, code: str, variant: int = 0) -> Indicator:
    return session.scalars(
        select(Indicator).where(
            Indicator.framework_id == fid, Indicator.code == code, Indicator.variant == variant
        )
    ).one()


def _web_as(app, user_id: int) -> Any:
    """A browser signed in as this user (the sign-in link's business is tested elsewhere)."""
    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = f"{user_id}:0"
        s["_fresh"] = True
    return client


@pytest.fixture
def review(app, runtime, make_framework, make_user, token_for, tmp_path: Path) -> dict[str, Any]:
    """A framework with two documents, experts 王 (all indicators), 李 (only 2.3) and the lead
    张, staff, limited staff (1.1), an admin; each with an API token."""
    fid = make_framework()["framework_id"]
    docs = {}
    for name, text in ((SECRET, "专业设置 调研 绝密内容"), (ORDER, "迅达电梯订单班 第一期")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        docs[name] = factories.ingest(runtime, [path], fid).documents[0]["id"]
    ends = end_of_access(days=14)
    with runtime.unit_of_work() as s:
        invited = {
            "wang": invite_expert(s, framework_id=fid, name="王专家", expires_at=ends),
            "li": invite_expert(
                s, framework_id=fid, name="李专家", expires_at=ends, indicators=["2.3"]
            ),
            "lead": invite_expert(s, framework_id=fid, name="张组长", expires_at=ends, lead=True),
        }
        ids = {key: inv.expert.id for key, inv in invited.items()}
        leaf = _indicator(s, fid, "2.3.4").id
        secret_leaf = _indicator(s, fid, "1.1.1").id
    headers = {key: {"Authorization": f"Bearer {inv.api_token}"} for key, inv in invited.items()}
    limited = make_user("staff", "limited-staff")
    factories.limit_scope(runtime, limited, fid, ["1.1"])
    users = {"staff": make_user("staff"), "admin": make_user("admin"), "limited": limited}
    users["reviewer"] = make_user("reviewer")
    for key, user in users.items():
        headers[key] = token_for(user)
        ids[key] = user.id
    return {
        "fid": fid,
        "docs": docs,
        "ids": ids,
        "headers": headers,
        "leaf": leaf,
        "secret_leaf": secret_leaf,
        "api": app.test_client(),
    }


def put_mark(review, who: str, code: str, body: Any, fid: int | None = None):
    return review["api"].put(
        f"/api/v1/frameworks/{fid or review['fid']}/marks/{code}",
        json=body,
        headers=review["headers"][who],
    )


def get(review, who: str, url: str, **kwargs):
    return review["api"].get(url, headers=review["headers"][who], **kwargs)


def upload(review, who: str, name: str, data: bytes, **form: Any):
    return review["api"].post(
        "/api/v1/documents",
        headers=review["headers"][who],
        data={"files": [(io.BytesIO(data), name)], **{k: str(v) for k, v in form.items()}},
        content_type="multipart/form-data",
    )


# -- the loop -----------------------------------------------------------------------------------


def test_the_whole_loop_through_the_api_and_the_pages(app, runtime, review) -> None:
    ask = "请提供2022级订单班学生名单及企业订单合同"
    first = put_mark(review, "wang", "2.3.4", {"mark": "more", "request": ask, "score": 1})
    assert first.status_code == 200, first.get_json()
    mark = first.get_json()
    assert (mark["mark"], mark["symbol"], mark["label"], mark["score"]) == ("more", "——", "调阅", 1)
    assert mark["indicator"]["code"] == "2.3.4" and mark["expert"] == "王专家"
    request_id = mark["request"]["id"]
    assert mark["request"]["status"] == "open" and mark["request"]["text"] == ask
    # the same request again (a re-save) opens nothing new
    again = put_mark(review, "wang", "2.3.4", {"mark": "more", "request": ask, "comment": "仍需"})
    assert again.get_json()["request"]["id"] == request_id

    # staff see it as a task; limited staff (1.1) do not, and may not answer it
    tasks = get(review, "staff", "/api/v1/requests").get_json()["requests"]
    assert [
        (t["id"], t["indicator"]["code"], t["text"], t["status"], t["expert"]) for t in tasks
    ] == [(request_id, "2.3.4", ask, "open", "王专家")]
    assert get(review, "limited", "/api/v1/requests").get_json() == {"requests": []}
    refused = upload(review, "limited", "名单.txt", "名单".encode(), request_id=request_id)
    assert refused.status_code == 403
    staff_page = _web_as(app, review["ids"]["staff"]).get("/requests").get_data(as_text=True)
    assert ask in staff_page and f"/upload?request_id={request_id}" in staff_page
    upload_page = _web_as(app, review["ids"]["staff"]).get(f"/upload?request_id={request_id}")
    assert upload_page.status_code == 200 and ask in upload_page.get_data(as_text=True)

    # staff answer by uploading: the file goes to the request's indicator
    answered = upload(
        review, "staff", "订单班名单补充.txt", "2022级订单班名单".encode(), request_id=request_id
    )
    assert answered.status_code == 201, answered.get_json()
    body = answered.get_json()
    assert body["request"] == {"id": request_id, "status": "answered"}
    assert [(d["indicator"], d["entry"]) for d in body["documents"]] == [("2.3.4", None)]
    new_doc = body["documents"][0]["id"]
    assert get(review, "staff", "/api/v1/requests").get_json() == {"requests": []}
    done = get(review, "staff", "/api/v1/requests", query_string={"status": "answered"})
    [task] = done.get_json()["requests"]
    assert task["answered_at"] and [d["id"] for d in task["documents"]] == [new_doc]

    # the expert sees the answer as new: API, list page, indicator page (which marks it seen)
    [mine] = get(review, "wang", "/api/v1/requests").get_json()["requests"]
    assert (mine["id"], mine["status"], mine["new"]) == (request_id, "answered", True)
    web = _web_as(app, review["ids"]["wang"])
    home = web.get("/expert").get_data(as_text=True)
    assert "新答复 1" in home
    row = home[home.index(f'id="i{review["leaf"]}"') :]
    assert row.index('data-figure="documents">2</td>') < row.index("</tr>")  # 2.3.4-1 + answer
    page = web.get(f"/expert/indicators/{review['leaf']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "订单班名单补充.txt" in html and "新答复" in html and ask in html
    assert "新答复" not in web.get("/expert").get_data(as_text=True)
    [mine] = get(review, "wang", "/api/v1/requests").get_json()["requests"]
    assert mine["new"] is False

    # the expert marks again: ok closes the request
    ok = put_mark(review, "wang", "2.3.4", {"mark": "ok", "score": 1.5, "comment": "材料齐全"})
    assert ok.status_code == 200
    assert ok.get_json()["closed_requests"] == [request_id] and ok.get_json()["request"] is None
    [mine] = get(review, "wang", "/api/v1/requests").get_json()["requests"]
    assert mine["status"] == "closed"
    closed_upload = upload(review, "staff", "迟到.txt", "迟".encode(), request_id=request_id)
    assert closed_upload.status_code == 400 and "已关闭" in closed_upload.get_json()["error"]

    with runtime.session() as s:
        actions = list(
            s.scalars(
                select(AuditLog.action)
                .where(AuditLog.action.like("mark.%") | AuditLog.action.like("request.%"))
                .order_by(AuditLog.id)
            )
        )
    assert actions == [
        "request.open",
        "mark.set",
        "mark.set",
        "request.answer",
        "request.close",
        "mark.set",
    ]


def test_the_web_form_marks_and_the_lead_merges(app, runtime, review) -> None:
    leaf = review["leaf"]
    wang = _web_as(app, review["ids"]["wang"])
    response = wang.post(
        f"/expert/indicators/{leaf}/mark", data={"mark": "question", "comment": "", "score": "1"}
    )
    assert response.status_code == 302
    assert "须在意见中写明" in wang.get(response.headers["Location"]).get_data(as_text=True)
    wang.post(
        f"/expert/indicators/{leaf}/mark",
        data={"mark": "question", "comment": "订单班是否真实开班？", "score": "1"},
    )
    put_mark(review, "li", "2.3.4", {"mark": "ok", "score": 1.4})
    put_mark(review, "wang", "2.3.5", {"mark": "ok", "score": 1.5})
    put_mark(review, "li", "2.3.5", {"mark": "ok", "score": 1.0})

    lead = _web_as(app, review["ids"]["lead"])
    overview = lead.get("/expert/overview")
    assert overview.status_code == 200
    html = overview.get_data(as_text=True)
    assert "订单班是否真实开班？" in html and "不一致" in html and "一致" in html
    assert '<td class="num" data-figure="average">1.2</td>' in html  # (1 + 1.4) / 2
    assert '<td class="num" data-figure="average">1.25</td>' in html
    saved = lead.post(
        f"/expert/indicators/{leaf}/final",
        data={"mark": "question", "comment": "入校核查订单班开班记录", "score": "1.2"},
    )
    assert saved.status_code == 302
    # experts who are not the lead have no overview and cannot finalize
    assert wang.get("/expert/overview").status_code == 403
    assert wang.post(f"/expert/indicators/{leaf}/final", data={"mark": "ok"}).status_code == 403

    lead_marks = get(review, "lead", f"/api/v1/frameworks/{review['fid']}/marks").get_json()
    got = {
        (m["indicator"]["code"], m["expert"], m["mark"], m["final"]) for m in lead_marks["marks"]
    }
    assert got == {
        ("2.3.4", "王专家", "question", False),
        ("2.3.4", "李专家", "ok", False),
        ("2.3.4", "张组长", "question", True),
        ("2.3.5", "王专家", "ok", False),
        ("2.3.5", "李专家", "ok", False),
    }
    admin_marks = get(review, "admin", f"/api/v1/frameworks/{review['fid']}/marks").get_json()
    assert len(admin_marks["marks"]) == 5
    own = get(review, "li", f"/api/v1/frameworks/{review['fid']}/marks").get_json()["marks"]
    assert {(m["indicator"]["code"], m["expert"]) for m in own} == {
        ("2.3.4", "李专家"),
        ("2.3.5", "李专家"),
    }
    assert get(review, "staff", f"/api/v1/frameworks/{review['fid']}/marks").status_code == 403
    admin_page = _web_as(app, review["ids"]["reviewer"]).get(f"/frameworks/{review['fid']}/marks")
    assert admin_page.status_code == 200
    assert "入校核查订单班开班记录" in admin_page.get_data(as_text=True)
    assert "保存定稿" not in admin_page.get_data(as_text=True)  # read only for the college


# -- the rules, at service level ------------------------------------------------------------------


def test_mark_validation(runtime, review) -> None:
    with runtime.unit_of_work() as s:
        wang = s.get(User, review["ids"]["wang"])
        leaf = s.get(Indicator, review["leaf"])  # 1.5 points
        bad = [
            ({"mark": "good"}, "标记必须是"),
            ({"mark": "more"}, "须写明需要调阅的材料"),
            ({"mark": "more", "request_text": "   "}, "须写明需要调阅的材料"),
            ({"mark": "question", "comment": ""}, "须在意见中写明"),
            ({"mark": "ok", "score": 1.6}, "不能超过指标分值 1.5 分"),
            ({"mark": "ok", "score": -1}, "不能为负数"),
            ({"mark": "ok", "score": "很好"}, "须为数字"),
            ({"mark": "ok", "score": True}, "须为数字"),
            ({"mark": "ok", "score": float("nan")}, "须为数字"),
            ({"mark": "ok", "comment": "长" * 5001}, "不能超过 5000 字"),
            ({"mark": "ok", "comment": 5}, "须为文字"),
        ]
        for kwargs, message in bad:
            with pytest.raises(marks_service.MarkError, match=message):
                marks_service.set_mark(s, wang, leaf, **kwargs)
        change = marks_service.set_mark(s, wang, leaf, "ok", score="1.456")
        assert change.mark.score == 1.46
        assert marks_service.set_mark(s, wang, leaf, "ok", score="").mark.score is None
        # a parent, and the alternative that does not apply (民办 4.1.1 without a self-score)
        with pytest.raises(marks_service.MarkError, match="末级指标"):
            marks_service.set_mark(s, wang, _indicator(s, review["fid"], "2.3"), "ok")
        with pytest.raises(marks_service.MarkError, match="不适用"):
            marks_service.set_mark(s, wang, _indicator(s, review["fid"], "4.1.1", 1), "ok")
        assert (
            marks_service.indicator_by_code(s, wang, review["fid"], "4.1.1").variant == 0
        )  # the API's 4.1.1 is the row that applies
        staff = s.get(User, review["ids"]["staff"])
        with pytest.raises(marks_service.MarkForbidden):
            marks_service.set_mark(s, staff, leaf, "ok")
        li = s.get(User, review["ids"]["li"])
        with pytest.raises(marks_service.MarkForbidden):
            marks_service.set_mark(s, li, s.get(Indicator, review["secret_leaf"]), "ok")
        s.rollback()


def test_requests_follow_the_marks(runtime, review) -> None:
    """more → open (reused for the same text); a new more closes answered ones; ok/question
    close open and answered ones; each expert's requests are their own."""
    with runtime.unit_of_work() as s:
        wang, li = s.get(User, review["ids"]["wang"]), s.get(User, review["ids"]["li"])
        leaf = s.get(Indicator, review["leaf"])
        first = marks_service.set_mark(s, wang, leaf, "more", request_text="名单")
        same = marks_service.set_mark(s, wang, leaf, "more", request_text="名单")
        other = marks_service.set_mark(s, wang, leaf, "more", request_text="合同")
        assert first.request_created and not same.request_created
        assert same.request is first.request and other.request is not first.request
        theirs = marks_service.set_mark(s, li, leaf, "more", request_text="名单").request
        staff = s.get(User, review["ids"]["staff"])
        request_service.answer_request(s, first.request, staff, [review["docs"][ORDER]])
        assert request_service.is_new(first.request)
        again = marks_service.set_mark(s, wang, leaf, "more", request_text="名单")
        assert again.request_created and [r.id for r in again.closed] == [first.request.id]
        done = marks_service.set_mark(s, wang, leaf, "question", comment="现场核查")
        assert {r.id for r in done.closed} == {other.request.id, again.request.id}
        rows = s.execute(select(MaterialRequest.id, MaterialRequest.status)).all()
        states = {request_id: status for request_id, status in rows}
        assert states == {
            first.request.id: "closed",
            other.request.id: "closed",
            theirs.id: "open",  # 李's request is untouched
            again.request.id: "closed",
        }
        s.rollback()


# -- scope, expiry, revocation ---------------------------------------------------------------------


def test_an_expert_sees_and_marks_only_their_scope(
    app, runtime, review, make_framework, tmp_path: Path
) -> None:
    other_table = tmp_path / "other.csv"
    other_table.write_text(
        "序号,一级指标,二级指标,三级指标,自评得分,佐证材料目录\n"
        "1,1. 甲 (2分),1.1 乙 (2分),1.1.1 另一体系的指标（2分）,2,1.1.1-1 报告\n",
        encoding="utf-8",
    )
    other_fid = make_framework(other_table, name="另一个指标体系")["framework_id"]
    out_of_scope = put_mark(review, "li", "1.1.1", {"mark": "ok"})
    assert out_of_scope.status_code == 403 and out_of_scope.get_json() == {"error": "没有权限"}
    unknown = put_mark(review, "li", "9.9.9", {"mark": "ok"})
    assert unknown.status_code == 404
    for fid in (other_fid, 10**9):
        elsewhere = put_mark(review, "wang", "1.1.1", {"mark": "ok"}, fid=fid)
        assert elsewhere.status_code == 404, fid
        assert "另一" not in elsewhere.get_data(as_text=True)
        listed = get(review, "wang", f"/api/v1/frameworks/{fid}/marks")
        assert listed.status_code == 404
    assert put_mark(review, "li", "2.3.4", ["ok"]).status_code == 400
    assert put_mark(review, "staff", "2.3.4", {"mark": "ok"}).status_code == 403
    assert review["api"].put(f"/api/v1/frameworks/{review['fid']}/marks/2.3.4").status_code == 401

    web = _web_as(app, review["ids"]["li"])
    assert web.get(f"/expert/indicators/{review['secret_leaf']}").status_code == 403
    home = web.get("/expert").get_data(as_text=True)
    assert "2.3.4" in home and "1.1.1" not in home and "绝密" not in home
    assert home.count('data-figure="documents">1</td>') == 1  # 2.3.4-1 only, in 2.3.4
    secret = review["docs"][SECRET]
    viewer = web.get(f"/expert/indicators/{review['leaf']}?doc={secret}").get_data(as_text=True)
    assert "绝密" not in viewer and "订单学明细表" in viewer
    for url in ("/search?q=绝密内容", "/search?q=专业设置"):
        page = web.get(url)
        assert page.status_code == 200, url
        assert "调研报告" not in page.get_data(as_text=True), url
    found = get(review, "li", "/api/v1/search", query_string={"q": "绝密内容"}).get_json()
    assert found["total"] == 0 and found["hits"] == []
    seen = get(review, "wang", "/api/v1/search", query_string={"q": "绝密内容"}).get_json()
    assert [h["document_id"] for h in seen["hits"]] == [secret]  # the search does find it
    assert get(review, "li", f"/api/v1/documents/{secret}").status_code in (403, 404)
    assert get(review, "li", "/api/v1/requests").get_json() == {"requests": []}
    # 王 (the whole framework) sees the document
    assert get(review, "wang", f"/api/v1/documents/{secret}").status_code == 200


def test_expiry_and_revocation_stop_the_token_on_the_next_call(runtime, review) -> None:
    assert put_mark(review, "wang", "2.3.4", {"mark": "ok"}).status_code == 200
    with runtime.unit_of_work() as s:
        s.get(User, review["ids"]["wang"]).expires_at = utcnow() - timedelta(seconds=1)
    expired = put_mark(review, "wang", "2.3.4", {"mark": "ok"})
    assert expired.status_code == 401 and expired.get_json() == {"error": "未登录或令牌无效"}
    assert get(review, "wang", "/api/v1/requests").status_code == 401

    assert put_mark(review, "li", "2.3.4", {"mark": "ok"}).status_code == 200
    with runtime.unit_of_work() as s:
        revoke_expert(s, s.get(User, review["ids"]["li"]), None)
    assert put_mark(review, "li", "2.3.4", {"mark": "ok"}).status_code == 401
    assert get(review, "li", f"/api/v1/frameworks/{review['fid']}/marks").status_code == 401


def test_an_answer_named_for_another_entry_goes_there(runtime, review) -> None:
    """A file whose name carries an entry code the expert may read goes to that entry; one
    already stored elsewhere (a duplicate) is linked to the request's indicator as well."""
    ask = put_mark(review, "li", "2.3.4", {"mark": "more", "request": "补充合同"}).get_json()
    request_id = ask["request"]["id"]
    named = upload(
        review, "staff", "2.3.4-2 合作协议.txt", "订单合同".encode(), request_id=request_id
    )
    assert [(d["entry"], d["indicator"]) for d in named.get_json()["documents"]] == [
        ("2.3.4-2", "2.3.4")
    ]
    outside = upload(
        review, "staff", "1.1.1-3 另一份.txt", "别处材料".encode(), request_id=request_id
    )
    assert [d["indicator"] for d in outside.get_json()["documents"]] == ["2.3.4"]
    secret_bytes = "专业设置 调研 绝密内容".encode()  # the same bytes and code as SECRET
    duplicate = upload(review, "staff", SECRET, secret_bytes, request_id=request_id)
    assert duplicate.status_code == 201
    assert duplicate.get_json()["documents"][0]["id"] == review["docs"][SECRET]
    [mine] = get(review, "li", "/api/v1/requests").get_json()["requests"]
    assert len(mine["documents"]) == 3
    # the duplicate is now readable by 李 through the request's indicator
    assert get(review, "li", f"/api/v1/documents/{review['docs'][SECRET]}").status_code == 200


def test_the_viewer_shows_a_page_over_the_experts_stamp(app, runtime, review) -> None:
    web = _web_as(app, review["ids"]["li"])
    order = review["docs"][ORDER]
    page = web.get(f"/expert/indicators/{review['leaf']}?doc={order}&page=1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<pre class="page-text stamped">迅达电梯订单班 第一期</pre>' in html
    assert "仅供评审使用" in html
    assert f"/documents/{order}/download" in html
    with runtime.unit_of_work() as s:
        s.get(User, review["ids"]["li"]).can_download = False
    html = web.get(f"/expert/indicators/{review['leaf']}?doc={order}").get_data(as_text=True)
    assert f"/documents/{order}/download" not in html  # view only
    with runtime.session() as s:
        views = s.scalars(
            select(AuditLog.object_id).where(
                AuditLog.action == "document.view", AuditLog.user_id == review["ids"]["li"]
            )
        ).all()
    assert views == [order, order]


def test_two_saves_at_once_leave_one_mark(runtime, review, database_url: str) -> None:
    """A double click: the second save waits for the first's row, then updates it."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite lets one writer in at a time: the second save never races")
    first, second = runtime.session(), runtime.session()
    try:
        marks_service.set_mark(
            first,
            first.get(User, review["ids"]["wang"]),
            first.get(Indicator, review["leaf"]),
            "ok",
        )  # flushed, not committed: the unique key is held
        outcome: dict[str, Any] = {}

        def save_again() -> None:
            try:
                expert = second.get(User, review["ids"]["wang"])
                leaf = second.get(Indicator, review["leaf"])
                change = marks_service.set_mark(second, expert, leaf, "question", comment="？")
                second.commit()
                outcome["previous"] = change.mark.id
            except Exception as e:  # reported below
                outcome["error"] = e

        thread = threading.Thread(target=save_again)
        thread.start()
        time.sleep(0.5)  # the second INSERT now waits on the first's key
        first.commit()
        thread.join(30)
        assert "error" not in outcome, outcome
    finally:
        first.close()
        second.close()
    with runtime.session() as s:
        rows = s.execute(select(ExpertMark.mark, ExpertMark.comment)).all()
    assert [tuple(r) for r in rows] == [("question", "？")]
