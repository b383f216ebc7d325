"""Review in the pages: roles, verdicts on documents (and what a new version does), expert
scores with their validation, comments (escaped), responsibility, CSRF on every form."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import AuditLog, Document, DocumentReview, Indicator

ROLES = ("admin", "staff", "reviewer", "auditor")
ROUTES: dict[tuple[str, str], set[str]] = {
    ("POST", "/review/documents/{doc}"): {"admin", "reviewer"},
    ("POST", "/review/documents/{doc}/comments"): {"admin", "reviewer", "auditor"},
    ("POST", "/review/indicators/{leaf}"): {"admin", "reviewer"},
    ("POST", "/review/indicators/{leaf}/comments"): {"admin", "reviewer", "auditor"},
    ("POST", "/review/indicators/{leaf}/responsibility"): {"admin"},
}
SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def world(app, runtime, make_framework, make_user, tmp_path: Path):
    """The fixture framework, one user per role, one indexed document on 2.3.4-1."""
    from evidence_app.documents.ingest import ingest_files

    report = make_framework()
    users = {role: make_user(role, display_name=f"{role}用户") for role in ROLES}
    path = tmp_path / "2.3.4-1 2020-2022级企业订单学明细表.txt"
    path.write_text("迅达电梯订单班学生名单\n共 42 人", encoding="utf-8")
    result = ingest_files(
        runtime, [path], framework_id=report["framework_id"], user_id=users["staff"].id
    )
    doc_id = result.documents[0]["id"]
    with runtime.session() as s:
        assert s.get(Document, doc_id).status == "indexed"
        leaf = s.scalar(
            select(Indicator.id).where(
                Indicator.framework_id == report["framework_id"], Indicator.code == "2.3.4"
            )
        )
    return {"fw": report["framework_id"], "users": users, "doc": doc_id, "leaf": leaf}


def _flashes(page: str) -> list[str]:
    return re.findall(r'<div class="flash flash-\w+" role="alert">(.*?)</div>', page, re.S)


def _approved_entries(client, framework_id: int) -> str:
    page = client.get(f"/coverage?framework={framework_id}").get_data(as_text=True)
    return re.search(r'data-figure="entries_approved">(\d+)<', page).group(1)


def _review_badge(page: str) -> str:
    part = page[page.index("当前审核状态") :]
    return re.search(r'<span class="badge review-(\w+)">', part).group(1)


# -- roles ----------------------------------------------------------------------------------


def test_every_review_route_is_in_the_matrix(app) -> None:
    ours = {
        (method, re.sub(r"<int:(\w+)>", lambda m: "{" + m.group(1) + "}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/review")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    names = {"document_id": "doc", "indicator_id": "leaf"}
    ours = {(m, re.sub(r"\{(\w+)\}", lambda x: "{" + names[x.group(1)] + "}", p)) for m, p in ours}
    assert ours == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
def test_roles(world, login, runtime, role: str) -> None:
    client = login(world["users"][role])
    for (method, template), allowed in ROUTES.items():
        url = template.format(**world)
        response = client.open(url, method=method, data={})
        if role in allowed:
            assert response.status_code == 302, (url, response.status_code)
        else:
            assert response.status_code == 403, (url, response.status_code)
            assert "您没有权限" in response.get_data(as_text=True)
    # the forms are shown only to those who may use them
    doc_page = client.get(f"/documents/{world['doc']}").get_data(as_text=True)
    leaf_page = client.get(f"/indicators/{world['leaf']}").get_data(as_text=True)
    may_review = role in ("admin", "reviewer")
    may_comment = role in ("admin", "reviewer", "auditor")
    assert (f'action="/review/documents/{world["doc"]}"' in doc_page) == may_review
    assert (f'action="/review/documents/{world["doc"]}/comments"' in doc_page) == may_comment
    assert (f'action="/review/indicators/{world["leaf"]}"' in leaf_page) == may_review
    assert (f'action="/review/indicators/{world["leaf"]}/comments"' in leaf_page) == may_comment
    assert ("/responsibility" in leaf_page) == (role == "admin")
    for page in (doc_page, leaf_page):  # every form posts a CSRF token; nothing inline
        assert page.count('<form method="post"') == page.count('name="csrf_token"')
        assert 'style="' not in page and "<script>" not in page
    # everyone who reads sees the review section
    assert 'id="review"' in doc_page and "审核记录" in doc_page
    assert "专家评分" in leaf_page


def test_refusals_are_audited(world, login, runtime) -> None:
    client = login(world["users"]["staff"])
    assert (
        client.post(f"/review/documents/{world['doc']}", data={"status": "approved"}).status_code
        == 403
    )
    with runtime.session() as s:
        denied = s.scalars(select(AuditLog).where(AuditLog.action == "access.denied")).all()
        assert [(d.username, d.detail["permission"]) for d in denied] == [("staff", "review")]
        assert s.get(Document, world["doc"]).review_status == "pending"


# -- document review ------------------------------------------------------------------------


def test_approve_then_new_version_goes_back_to_pending(world, login, runtime) -> None:
    reviewer = login(world["users"]["reviewer"])
    doc_url = f"/documents/{world['doc']}"
    assert _review_badge(reviewer.get(doc_url).get_data(as_text=True)) == "pending"
    assert _approved_entries(reviewer, world["fw"]) == "0"

    response = reviewer.post(
        f"/review/documents/{world['doc']}", data={"status": "approved", "comment": "材料齐全"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{doc_url}#review")
    page = reviewer.get(doc_url).get_data(as_text=True)
    assert _flashes(page) == ["已将审核状态设为“通过”。"]
    assert _review_badge(page) == "approved"
    assert '<span class="badge review-approved">通过</span>' in page
    assert "材料齐全" in page and "reviewer用户" in page
    assert _approved_entries(reviewer, world["fw"]) == "1"
    indicator_page = reviewer.get(f"/indicators/{world['leaf']}").get_data(as_text=True)
    assert '<span class="badge review-approved">通过</span>' in indicator_page

    staff = login(world["users"]["staff"])
    response = staff.post(
        f"/documents/{world['doc']}/versions",
        data={"file": (io.BytesIO("订单班学生名单（修订）\n共 45 人".encode()), "修订.txt")},
    )
    assert response.status_code == 302
    page = staff.get(doc_url).get_data(as_text=True)
    assert _review_badge(page) == "pending"
    assert "上传了新版本，需重新审核" in page
    assert _approved_entries(reviewer, world["fw"]) == "0"
    with runtime.session() as s:
        history = s.execute(
            select(DocumentReview.status, DocumentReview.version_number)
            .where(DocumentReview.document_id == world["doc"])
            .order_by(DocumentReview.id)
        ).all()
        assert [tuple(h) for h in history] == [("approved", 1), ("pending", 2)]
        actions = s.scalars(
            select(AuditLog.action).where(AuditLog.action.like("document.review%"))
        ).all()
        assert actions == ["document.review", "document.review_reset"]


def test_needs_more_requires_a_comment(world, login, runtime) -> None:
    client = login(world["users"]["admin"])
    url = f"/review/documents/{world['doc']}"
    page = client.post(url, data={"status": "needs_more"}, follow_redirects=True)
    assert _flashes(page.get_data(as_text=True)) == ["“需补充”须写明需要补充什么"]
    page = client.post(url, data={"status": "maybe"}, follow_redirects=True)
    assert "审核状态必须是" in _flashes(page.get_data(as_text=True))[0]
    page = client.post(
        url, data={"status": "needs_more", "comment": "缺少盖章页"}, follow_redirects=True
    ).get_data(as_text=True)
    assert _flashes(page) == ["已将审核状态设为“需补充”。"]
    assert _review_badge(page) == "needs_more"
    assert "缺少盖章页" in page
    with runtime.session() as s:
        assert s.scalar(select(func.count()).select_from(DocumentReview)) == 1


def test_comments_are_escaped(world, login) -> None:
    auditor = login(world["users"]["auditor"])
    for url, page_url in (
        (f"/review/documents/{world['doc']}/comments", f"/documents/{world['doc']}"),
        (f"/review/indicators/{world['leaf']}/comments", f"/indicators/{world['leaf']}"),
    ):
        response = auditor.post(url, data={"text": SCRIPT + " 请核对人数"})
        assert response.status_code == 302
        page = auditor.get(page_url).get_data(as_text=True)
        assert _flashes(page) == ["已发表意见。"]
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 请核对人数" in page
        assert SCRIPT not in page
        assert "auditor用户（督导审计）" in page
    reviewer = login(world["users"]["reviewer"])
    reviewer.post(
        f"/review/documents/{world['doc']}", data={"status": "needs_more", "comment": SCRIPT}
    )
    reviewer.post(f"/review/indicators/{world['leaf']}", data={"score": "1", "comment": SCRIPT})
    for page_url in (f"/documents/{world['doc']}", f"/indicators/{world['leaf']}"):
        page = reviewer.get(page_url).get_data(as_text=True)
        assert SCRIPT not in page and "&lt;script&gt;" in page
    # empty comments are refused
    page = auditor.post(
        f"/review/documents/{world['doc']}/comments", data={"text": "  "}, follow_redirects=True
    )
    assert _flashes(page.get_data(as_text=True)) == ["意见不能为空"]


# -- expert scores ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("1.6", "专家评分不能超过指标分值 1.5 分（2.3.4）"),
        ("-0.5", "专家评分不能为负数"),
        ("一分", "专家评分须为数字"),
        ("nan", "专家评分须为数字"),
        ("", "请填写专家评分（0–1.5 分）；只写意见请用“意见”一栏。"),
    ],
)
def test_expert_score_validation(world, login, runtime, score: str, message: str) -> None:
    client = login(world["users"]["reviewer"])
    response = client.post(
        f"/review/indicators/{world['leaf']}", data={"score": score, "comment": "意见"}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/indicators/{world['leaf']}#review")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert _flashes(page) == [message]
    assert 'data-figure="expert_score">—<' in page
    with runtime.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "indicator.score")
            )
            == 0
        )


def test_expert_score_is_shown_to_every_reader(world, login, runtime) -> None:
    reviewer = login(world["users"]["reviewer"])
    url = f"/review/indicators/{world['leaf']}"
    reviewer.post(url, data={"score": "1", "comment": "订单班人数偏少"}, follow_redirects=True)
    page = reviewer.post(
        url, data={"score": "1.5", "comment": "补充材料后满分"}, follow_redirects=True
    ).get_data(as_text=True)
    assert _flashes(page) == ["已保存专家评分 1.5 分。"]
    for role in ROLES:
        page = (
            login(world["users"][role]).get(f"/indicators/{world['leaf']}").get_data(as_text=True)
        )
        assert 'data-figure="expert_score">1.5<' in page
        assert "补充材料后满分" in page
        assert "评分记录（2）" in page and "订单班人数偏少" in page
    coverage = reviewer.get(f"/coverage?framework={world['fw']}&q=2.3.4").get_data(as_text=True)
    row = coverage[coverage.index('data-code="2.3.4"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'<td class="num">([^<]*)</td>', row)[-1] == "1.5"
    with runtime.session() as s:
        scores = s.scalars(
            select(AuditLog.detail)
            .where(AuditLog.action == "indicator.score")
            .order_by(AuditLog.id)
        ).all()
        assert [d["expert_score"] for d in scores] == [1.0, 1.5]


def test_inner_indicators_take_comments_not_scores(world, login, runtime) -> None:
    with runtime.session() as s:
        level2 = s.scalar(select(Indicator.id).where(Indicator.code == "2.3"))
    client = login(world["users"]["reviewer"])
    page = client.get(f"/indicators/{level2}").get_data(as_text=True)
    assert f'action="/review/indicators/{level2}"' not in page
    assert f'action="/review/indicators/{level2}/comments"' in page
    page = client.post(
        f"/review/indicators/{level2}", data={"score": "1"}, follow_redirects=True
    ).get_data(as_text=True)
    assert _flashes(page) == ["专家评分给到末级指标（如三级指标），本指标的分数由下级指标汇总。"]
    with runtime.session() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "indicator.score")
            )
            == 0
        )


# -- responsibility ---------------------------------------------------------------------------


def test_admin_sets_responsibility(world, login, runtime, make_user) -> None:
    owner = make_user("staff", "wang", display_name="王老师")
    admin = login(world["users"]["admin"])
    url = f"/review/indicators/{world['leaf']}/responsibility"
    response = admin.post(
        url,
        data={
            "department": "教务处",
            "owner_user_id": str(owner.id),
            "owner": "",
            "due_date": "2024-05-01",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#responsibility")
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert _flashes(page) == [
        "已保存责任信息（部门：教务处，责任人：王老师，截止日期：2024-05-01）。"
    ]
    assert f'<option value="{owner.id}" selected>王老师（wang）</option>' in page
    assert 'value="2024-05-01"' in page
    with runtime.session() as s:
        node = s.get(Indicator, world["leaf"])
        assert (node.department, node.owner, node.owner_user_id) == ("教务处", "王老师", owner.id)
        log = s.scalars(select(AuditLog).where(AuditLog.action == "indicator.responsibility")).one()
        assert log.username == "admin" and log.detail["changes"]["department"] == ["", "教务处"]
    # the entries still missing are now on 王老师's task list, overdue
    tasks = login(owner).get("/tasks").get_data(as_text=True)
    assert re.findall(r'<tr class="overdue" data-code="([^"]+)"', tasks) == [
        "2.3.4-2",
        "2.3.4-3",
        "2.3.4.4",
        "2.3.4-5",
    ]
    # unchanged, then a name without an account, then bad input
    page = admin.post(
        url,
        data={"department": "教务处", "owner_user_id": str(owner.id), "due_date": "2024-05-01"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert _flashes(page) == ["责任信息没有变化。"]
    page = admin.post(
        url,
        data={"department": "", "owner_user_id": "", "owner": "李主任", "due_date": ""},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert _flashes(page) == ["已保存责任信息（部门：未指定，责任人：李主任，截止日期：未定）。"]
    page = admin.post(url, data={"due_date": "2024-13-01"}, follow_redirects=True)
    assert _flashes(page.get_data(as_text=True)) == [
        "截止日期格式不对：2024-13-01（应为 2024-06-30）"
    ]
    page = admin.post(url, data={"owner_user_id": "abc"}, follow_redirects=True)
    assert _flashes(page.get_data(as_text=True)) == ["责任人选择无效。"]
    page = admin.post(url, data={"owner_user_id": "9999"}, follow_redirects=True)
    assert _flashes(page.get_data(as_text=True)) == ["用户 9999 不存在"]
    with runtime.session() as s:
        node = s.get(Indicator, world["leaf"])
        assert (node.department, node.owner, node.owner_user_id, node.due_date) == (
            "",
            "李主任",
            None,
            None,
        )


# -- CSRF --------------------------------------------------------------------------------------


def test_forms_carry_csrf_tokens(
    tmp_path: Path, database_url: str, framework_fixtures: Path
) -> None:
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from evidence_app.auth.users import create_user
    from evidence_app.frameworks.operations import import_framework_file
    from storage import upgrade_database

    app = create_app(TestConfig(tmp_path / "i", DATABASE_URL=database_url, WTF_CSRF_ENABLED=True))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    with runtime.session() as s:
        create_user(s, "admin", "correct-horse-9", "admin")
        import_framework_file(s, framework_fixtures / "A类规划自评打分表.docx")
        s.commit()
        leaf = s.scalar(select(Indicator.id).where(Indicator.code == "2.3.4"))
    try:
        client = app.test_client()
        login_page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
        response = client.post(
            "/login", data={"username": "admin", "password": "correct-horse-9", "csrf_token": token}
        )
        assert response.status_code == 302
        page = client.get(f"/indicators/{leaf}").get_data(as_text=True)
        forms = re.findall(
            r'<form method="post" action="(/review/[^"]+)"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
            page,
        )
        assert [a for a, _ in forms] == [
            f"/review/indicators/{leaf}",
            f"/review/indicators/{leaf}/comments",
            f"/review/indicators/{leaf}/responsibility",
        ]
        refused = client.post(f"/review/indicators/{leaf}", data={"score": "1"})
        assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
        accepted = client.post(
            f"/review/indicators/{leaf}", data={"score": "1", "csrf_token": forms[0][1]}
        )
        assert accepted.status_code == 302
    finally:
        runtime.close()
