"""The web app: roles on every route, login, CSRF, headers, uploads, escaping."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage import AuditLog, Document

ROLES = ("admin", "staff", "reviewer", "auditor")
PASSWORD = "correct-horse-9"  # the password make_user gives (tests/conftest.py)
ALL = set(ROLES)

# Every route of the web app with the roles allowed; a new route must be added here.
ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): ALL,
    ("GET", "/frameworks/{fw}"): ALL,
    ("GET", "/indicators/{leaf}"): ALL,
    ("POST", "/indicators/{leaf}/measurement"): {"admin", "staff"},
    ("GET", "/frameworks/import"): {"admin"},
    ("POST", "/frameworks/import"): {"admin"},
    ("GET", "/upload"): {"admin", "staff"},
    ("POST", "/upload"): {"admin", "staff"},
    ("GET", "/queue"): {"admin", "staff"},
    ("GET", "/upload/status"): {"admin", "staff"},
    ("POST", "/frameworks/{fw}/archive"): {"admin"},
    ("POST", "/frameworks/{fw}/unarchive"): {"admin"},
    ("GET", "/frameworks/{fw}/delete"): {"admin"},
    ("POST", "/frameworks/{fw}/delete"): {"admin"},  # not run: it would take the world
    ("GET", "/search"): ALL,
    ("GET", "/documents/{doc}"): ALL,
    ("GET", "/documents/{doc}/download"): ALL,
    ("GET", "/documents/{doc}/view"): ALL,
    ("GET", "/documents/{doc}/pages/1.png"): ALL,
    ("GET", "/documents/stamp.png"): ALL,
    ("POST", "/documents/{doc}/versions"): {"admin", "staff"},
    ("POST", "/documents/{doc}/links"): {"admin", "staff"},
    ("POST", "/documents/{doc}/links/{link}/delete"): {"admin", "staff"},
    ("POST", "/documents/{doc}/retry"): {"admin", "staff"},
    ("POST", "/documents/{doc}/delete"): {"admin", "staff"},
    ("GET", "/admin/users"): {"admin"},
    ("POST", "/admin/users"): {"admin"},
    ("GET", "/admin/users/{uid}"): {"admin"},
    ("POST", "/admin/users/{uid}"): {"admin"},
    ("GET", "/admin/audit"): {"admin", "auditor"},
    ("GET", "/admin/audit.xlsx"): {"admin", "auditor"},
    ("GET", "/admin/settings"): {"admin"},
    ("GET", "/admin/experts"): {"admin"},
    ("POST", "/admin/experts"): {"admin"},
    ("POST", "/admin/experts/1/revoke"): {"admin"},
    ("POST", "/admin/settings"): {"admin"},
    ("GET", "/account"): ALL,
    ("POST", "/account"): ALL,
    # 网评: the experts' pages (none of the college's roles), the overview, 调阅 tasks
    ("GET", "/expert"): set(),
    ("GET", "/expert/indicators/{leaf}"): set(),
    ("POST", "/expert/indicators/{leaf}/mark"): set(),
    ("POST", "/expert/indicators/{leaf}/final"): set(),
    ("GET", "/expert/overview"): set(),
    ("GET", "/expert/overview.xlsx"): set(),
    ("GET", "/marks"): {"admin", "reviewer", "auditor"},
    ("GET", "/frameworks/{fw}/marks"): {"admin", "reviewer", "auditor"},
    ("GET", "/frameworks/{fw}/marks.xlsx"): {"admin", "reviewer", "auditor"},
    ("GET", "/requests"): {"admin", "staff"},
    # 建议条目 for unlinked files (evidence_app/suggestions)
    ("GET", "/suggestions/"): {"admin", "staff"},
    ("GET", "/suggestions/documents/{doc}"): {"admin", "staff"},
    ("POST", "/suggestions/accept"): {"admin", "staff"},
}
PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("GET", "/expert/signin/{secret}"),  # the secret is the credential (tests/security)
    ("POST", "/expert/signin/{secret}"),
}


def text_file(name: str, text: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO(text.encode("utf-8")), name


@pytest.fixture
def world(app, runtime, make_framework, make_user, tmp_path: Path):
    """A framework, one user per role, and one indexed document with a link."""
    from evidence_app.documents.ingest import ingest_files

    report = make_framework()
    users = {role: make_user(role) for role in ROLES}
    path = tmp_path / "2.3.4-1 2020-2022级企业订单学明细表.txt"
    path.write_text("迅达电梯订单班学生名单\n共 42 人", encoding="utf-8")
    result = ingest_files(
        runtime, [path], framework_id=report["framework_id"], user_id=users["staff"].id
    )
    doc_id = result.documents[0]["id"]
    with runtime.session() as s:
        link_id = s.get(Document, doc_id).links[0].id
    leaf = 5  # an indicator id that exists in the fixture tree
    return {
        "fw": report["framework_id"],
        "users": users,
        "doc": doc_id,
        "link": link_id,
        "leaf": leaf,
        "uid": users["reviewer"].id,
    }


def test_every_route_is_in_the_matrix(app) -> None:
    seen = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static",) or rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", lambda m: "{" + m.group(1) + "}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            seen.add((method, path))
    normalize = {
        "/frameworks/{framework_id}": "/frameworks/{fw}",
        "/indicators/{indicator_id}": "/indicators/{leaf}",
        "/indicators/{indicator_id}/measurement": "/indicators/{leaf}/measurement",
        "/documents/{document_id}": "/documents/{doc}",
        "/documents/{document_id}/download": "/documents/{doc}/download",
        "/documents/{document_id}/view": "/documents/{doc}/view",
        "/documents/{document_id}/pages/{page}.png": "/documents/{doc}/pages/1.png",
        "/documents/{document_id}/versions": "/documents/{doc}/versions",
        "/documents/{document_id}/links": "/documents/{doc}/links",
        "/documents/{document_id}/links/{link_id}/delete": "/documents/{doc}/links/{link}/delete",
        "/documents/{document_id}/retry": "/documents/{doc}/retry",
        "/documents/{document_id}/delete": "/documents/{doc}/delete",
        "/suggestions/documents/{document_id}": "/suggestions/documents/{doc}",
        "/admin/users/{user_id}": "/admin/users/{uid}",
        "/admin/experts/{expert_id}/revoke": "/admin/experts/1/revoke",
        "/expert/indicators/{indicator_id}": "/expert/indicators/{leaf}",
        "/expert/indicators/{indicator_id}/mark": "/expert/indicators/{leaf}/mark",
        "/expert/indicators/{indicator_id}/final": "/expert/indicators/{leaf}/final",
        "/frameworks/{framework_id}/marks": "/frameworks/{fw}/marks",
        "/frameworks/{framework_id}/archive": "/frameworks/{fw}/archive",
        "/frameworks/{framework_id}/unarchive": "/frameworks/{fw}/unarchive",
        "/frameworks/{framework_id}/delete": "/frameworks/{fw}/delete",
        "/frameworks/{framework_id}/marks.xlsx": "/frameworks/{fw}/marks.xlsx",
    }
    routes = {(m, normalize.get(p, p)) for m, p in seen}
    extra = {r for r in routes if r[1].startswith(("/coverage", "/tasks", "/review"))}
    assert routes - extra - PUBLIC == set(ROUTES)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, login, runtime, role: str) -> None:
    client = login(world["users"][role])
    denied_before = _count_denied(runtime)
    expected_denials = 0
    for (method, template), allowed in ROUTES.items():
        if template.endswith("/delete") and "links" not in template:
            continue  # deleting runs last, below
        url = template.format(**world)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.post(url, data={})
        response.close()
        if role in allowed:
            assert response.status_code < 500 and response.status_code != 403, (
                method,
                url,
                response.status_code,
            )
        else:
            assert response.status_code == 403, (method, url, response.status_code)
            assert "您没有权限" in response.get_data(as_text=True)
            expected_denials += 1
    assert _count_denied(runtime) - denied_before == expected_denials
    delete = client.post(f"/documents/{world['doc']}/delete")
    assert delete.status_code == (302 if role in ("admin", "staff") else 403)


def _count_denied(runtime) -> int:
    with runtime.session() as s:
        return s.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "access.denied")
        )


def test_anonymous_is_sent_to_login(client, world) -> None:
    for url in ("/", f"/documents/{world['doc']}", "/admin/users", "/search?q=x"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_failure_is_audited_and_throttled(client, world, runtime) -> None:
    for _ in range(10):
        response = client.post("/login", data={"username": "admin", "password": "wrong"})
        assert response.status_code == 401
        assert "用户名或密码错误" in response.get_data(as_text=True)
    blocked = client.post("/login", data={"username": "admin", "password": "wrong"})
    assert blocked.status_code == 429
    assert "登录失败次数过多" in blocked.get_data(as_text=True)
    with runtime.session() as s:
        failures = s.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "login.failed")
        )
    assert failures == 10


def test_security_headers_and_cookie_flags(world, app) -> None:
    client = app.test_client()
    login = client.post("/login", data={"username": "admin", "password": PASSWORD})
    set_cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = response.get_data(as_text=True)
    assert "<script>" not in page and "onclick=" not in page and 'style="' not in page


def test_csrf_required_on_forms(
    tmp_path: Path, database_url: str, framework_fixtures: Path
) -> None:
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from evidence_app.auth.users import create_user
    from storage import upgrade_database

    app = create_app(TestConfig(tmp_path / "i", DATABASE_URL=database_url, WTF_CSRF_ENABLED=True))
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    with runtime.session() as s:
        create_user(s, "admin", "correct-horse-9", "admin")
        s.commit()
    client = app.test_client()
    refused = client.post("/login", data={"username": "admin", "password": "correct-horse-9"})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post(
        "/login", data={"username": "admin", "password": "correct-horse-9", "csrf_token": token}
    )
    assert ok.status_code == 302
    no_token = client.post(
        "/admin/users", data={"username": "x1", "password": "abcdefgh1", "role": "staff"}
    )
    assert no_token.status_code == 400
    runtime.close()


def test_upload_page_links_by_code_and_reports_unmatched_and_rejected(
    world, login, runtime
) -> None:
    client = login(world["users"]["staff"])
    response = client.post(
        "/upload",
        data={
            "framework_id": str(world["fw"]),
            "files": [
                text_file("2.5.2-1 专业课专任教师一览表.txt", "双师型教师 李老师"),
                text_file("没有编号的文件.txt", "内容"),
                text_file("9.9.9-1 不存在的条目.txt", "内容"),
                (io.BytesIO(b""), "2.5.2-2 空文件.txt"),
            ],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    report = response.get_json()
    assert report["accepted"] == 3
    assert report["rejected"] == [{"name": "2.5.2-2 空文件.txt", "reason": "文件为空（0 字节）"}]
    docs = {d["name"]: d for d in report["documents"]}
    assert (
        docs["2.5.2-1 专业课专任教师一览表.txt"]["entry"],
        docs["2.5.2-1 专业课专任教师一览表.txt"]["indicator"],
    ) == ("2.5.2-1", "2.5.2")
    assert (
        docs["没有编号的文件.txt"]["entry"] is None
        and docs["没有编号的文件.txt"]["indicator"] is None
    )
    assert docs["9.9.9-1 不存在的条目.txt"]["entry"] is None
    # assign the unmatched one by hand
    doc_id = docs["没有编号的文件.txt"]["id"]
    linked = client.post(
        f"/documents/{doc_id}/links",
        data={"code": "2.5.2-2"},
        headers={"Accept": "application/json"},
    )
    assert linked.get_json() == {"document_id": doc_id, "linked": "2.5.2-2"}
    bad = client.post(
        f"/documents/{doc_id}/links",
        data={"code": "7.7.7-7"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 400 and "没有编号为 7.7.7-7" in bad.get_json()["error"]
    # processed inline (immediate queue): searchable with a highlighted snippet
    found = client.get("/search?q=双师型").get_data(as_text=True)
    assert "<mark>双师型</mark>" in found and "2.5.2-1" in found


def test_stored_xss_is_escaped(world, login, runtime) -> None:
    client = login(world["users"]["admin"])
    evil_name = "<img src=x onerror=alert(1)>"  # a file name cannot hold "/", so no </script>
    evil_text = "<script>alert(1)</script>"
    response = client.post(
        "/upload",
        data={
            "framework_id": str(world["fw"]),
            "files": [text_file(f"{evil_name}.txt", f"正文 {evil_text} 订单班")],
        },
        content_type="multipart/form-data",
    )
    doc_id = response.get_json()["documents"][0]["id"]
    comment = client.post(f"/documents/{doc_id}/links", data={"code": evil_text})
    assert comment.status_code == 302
    pages = {
        f"/documents/{doc_id}": ("&lt;img src=x", "&lt;script&gt;"),
        "/search?q=订单班": ("&lt;img src=x", "&lt;script&gt;"),
        f"/documents/{doc_id}/view?page=1&q={evil_text}": ("&lt;img src=x", "&lt;script&gt;"),
        "/admin/audit": ("&lt;img src=x",),
    }
    for url, escaped in pages.items():
        page = client.get(url).get_data(as_text=True)
        assert evil_text not in page and evil_name not in page, url
        for fragment in escaped:
            assert fragment in page, (url, fragment)


def test_new_version_keeps_old_downloadable(world, login) -> None:
    client = login(world["users"]["staff"])
    doc = world["doc"]
    response = client.post(
        f"/documents/{doc}/versions",
        data={"file": text_file("2.3.4-1 新版明细表.txt", "第二版 订单班 45 人")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    v1 = client.get(f"/documents/{doc}/download?version=1")
    v2 = client.get(f"/documents/{doc}/download")
    assert v1.data.decode() == "迅达电梯订单班学生名单\n共 42 人"
    assert v2.data.decode() == "第二版 订单班 45 人"
    assert "attachment" in v2.headers["Content-Disposition"]
    v1.close()
    v2.close()


def test_request_over_limit_is_413_with_message(tmp_path: Path, database_url: str) -> None:
    from config import TestConfig
    from evidence_app import create_app, get_runtime
    from evidence_app.auth.users import create_user
    from storage import upgrade_database

    app = create_app(
        TestConfig(tmp_path / "i", DATABASE_URL=database_url, MAX_CONTENT_LENGTH=1024 * 1024)
    )
    runtime = get_runtime(app)
    upgrade_database(runtime.engine)
    with runtime.session() as s:
        create_user(s, "staff", "correct-horse-9", "staff")
        s.commit()
    client = app.test_client()
    client.post("/login", data={"username": "staff", "password": "correct-horse-9"})
    big = (io.BytesIO(b"x" * (2 * 1024 * 1024)), "big.txt")
    response = client.post("/upload", data={"files": [big]}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "超过大小上限" in response.get_data(as_text=True)
    runtime.close()


def test_pages_render_for_admin(world, login) -> None:
    client = login(world["users"]["admin"])
    home = client.get("/").get_data(as_text=True)
    # 229 catalog entries, and the two leaves without a catalog (4.2.2, 4.3.1) count as one
    # slot each: a leaf that claims points with nothing behind it shows as missing
    assert "自评打分表" in home and "佐证已提供" in home and "1/231" in home
    tree = client.get(f"/frameworks/{world['fw']}").get_data(as_text=True)
    assert "2.3.4" in tree and "企业订单学生所占比例" in tree and "编号错位" in tree
    detail = client.get(f"/documents/{world['doc']}").get_data(as_text=True)
    assert "2.3.4-1" in detail and "迅达电梯订单班学生名单" in detail
    view = client.get(f"/documents/{world['doc']}/view?page=1&q=订单班").get_data(as_text=True)
    assert "<mark>订单班</mark>" in view
    empty = client.get("/search?q=完全不存在的词语组合").get_data(as_text=True)
    assert "没有找到" in empty and "减少或更换关键词" in empty


def test_import_page_takes_every_format(app, make_user, login, framework_fixtures: Path) -> None:
    client = login(make_user("admin"))
    for ext in ("xlsx", "docx", "pdf"):
        data = (framework_fixtures / f"A类规划自评打分表.{ext}").read_bytes()
        response = client.post(
            "/frameworks/import",
            data={"file": (io.BytesIO(data), f"A类规划自评打分表.{ext}"), "name": f"体系-{ext}"},
            content_type="multipart/form-data",
            follow_redirects=True,
        )
        page = response.get_data(as_text=True)
        assert "三级指标 53 个，佐证条目 229 条" in page, ext
    bad = client.post(
        "/frameworks/import",
        data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 400 and "导入失败：未找到表头" in bad.get_data(as_text=True)


def test_limited_staff_cannot_see_documents_outside_their_indicators(
    world, runtime, make_user, login
) -> None:
    from storage import Indicator, User, UserAssignment

    limited = make_user("staff", "limited-staff")
    with runtime.session() as s:
        user = s.get(User, limited.id)
        user.limited_scope = True
        other = s.scalars(select(Indicator).where(Indicator.code == "1.1")).one()
        s.add(UserAssignment(user_id=user.id, indicator_id=other.id))
        s.commit()
    client = login(limited)
    doc = world["doc"]  # filed under 2.3.4, outside 1.1
    for url in (f"/documents/{doc}", f"/documents/{doc}/download", f"/documents/{doc}/view"):
        response = client.get(url)
        assert response.status_code == 403, url
        response.close()
    page = client.get("/search?q=订单班").get_data(as_text=True)
    assert "没有找到" in page and f"/documents/{doc}" not in page
    everyone = login(world["users"]["staff"]).get("/search?q=订单班").get_data(as_text=True)
    assert f"/documents/{doc}" in everyone


def test_times_are_shown_in_beijing_time(world, login) -> None:
    from datetime import datetime

    from evidence_app.webui.filters import localtime

    assert localtime(datetime(2026, 12, 3, 20, 30)) == "2026-12-04 04:30"  # stored as UTC
    page = login(world["users"]["admin"]).get("/admin/audit").get_data(as_text=True)
    assert "时间（北京时间）" in page and "时间均为北京时间" in page


def test_the_audit_log_speaks_chinese_links_objects_and_filters(world, login) -> None:
    admin = login(world["users"]["admin"])
    admin.get(f"/documents/{world['doc']}/download").close()
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "登录" in page and "下载文件" in page and ">login<" not in page
    assert f'href="/documents/{world["doc"]}"' in page  # the object is a link
    assert "版本：1" in page  # detail keys in Chinese
    only = admin.get("/admin/audit?action=document.download").get_data(as_text=True)
    assert "下载文件" in only and '<td title="login">' not in only
    none = admin.get("/admin/audit?from=2000-01-01&to=2000-01-02").get_data(as_text=True)
    assert "没有符合条件的记录" in none
    today = admin.get("/admin/audit?from=2000-01-01&to=2999-01-01").get_data(as_text=True)
    assert "下载文件" in today


def test_the_audit_log_exports_the_filtered_rows_as_text(world, login) -> None:
    import openpyxl

    admin = login(world["users"]["admin"])
    admin.get(f"/documents/{world['doc']}/download").close()
    page = admin.get("/admin/audit?action=document.download").get_data(as_text=True)
    assert "/admin/audit.xlsx?action=document.download" in page
    response = admin.get("/admin/audit.xlsx?action=document.download")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("时间（北京时间）", "用户", "操作")
    assert {r[3] for r in rows[1:]} == {"document.download"} and rows[1][2] == "下载文件"
    assert "版本：1" in rows[1][6]
    # the export is itself in the log, with the filter it used
    again = admin.get("/admin/audit?action=audit.export").get_data(as_text=True)
    assert "导出操作日志" in again


def test_a_search_hit_names_its_framework_and_links_its_indicators(
    app, world, login, runtime, token_for
) -> None:
    from storage import Framework, Indicator

    with runtime.session() as s:
        name = s.get(Framework, world["fw"]).name
        indicator_id = s.scalars(
            select(Indicator.id).where(
                Indicator.framework_id == world["fw"], Indicator.code == "2.3.4"
            )
        ).one()
    client = login(world["users"]["reviewer"])
    page = client.get("/search?q=订单班").get_data(as_text=True)
    assert name in page and f'href="/indicators/{indicator_id}"' in page
    api = app.test_client().get(
        "/api/v1/search?q=订单班", headers=token_for(world["users"]["reviewer"])
    )
    [hit] = api.get_json()["hits"]
    assert (hit["framework_id"], hit["framework"], hit["indicator_ids"]) == (
        world["fw"],
        name,
        [indicator_id],
    )
