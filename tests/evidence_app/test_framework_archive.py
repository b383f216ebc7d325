"""Frameworks are archived (hidden from home, upload and search, restorable) and deleted
(name typed to confirm, audited; its documents are deleted as one document is) by
administrators only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from evidence_app.documents.ingest import default_framework_id, ingest_files
from evidence_app.frameworks.operations import archive_framework
from evidence_app.search.operations import leave_out_archived
from storage import AuditLog, CatalogEntry, Document, DocumentLink, Framework, Indicator


@pytest.fixture
def two(runtime, make_framework, tmp_path: Path):
    """Two frameworks with one processed document each, both saying 迅达电梯订单班."""
    out = {}
    for name in ("甲体系", "乙体系"):
        fid = make_framework(name=name, year=2023)["framework_id"]
        path = tmp_path / name / "2.3.4-1 订单学明细表.txt"
        path.parent.mkdir()
        path.write_text(f"迅达电梯订单班 {name}", encoding="utf-8")
        doc = ingest_files(runtime, [path], framework_id=fid).documents[0]
        assert doc["status"] == "indexed"
        out[name] = (fid, doc["id"])
    return out


def _hits(client, headers) -> list[int]:
    body = client.get("/api/v1/search?q=迅达电梯订单班", headers=headers).get_json()
    return sorted(h["document_id"] for h in body["hits"])


def _actions(runtime, action: str) -> list[AuditLog]:
    with runtime.session() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == action)).all()
        s.expunge_all()
        return list(rows)


def test_archive_hides_a_framework_and_unarchive_brings_it_back(
    app, runtime, two, make_user, login, token_for
) -> None:
    (fa, da), (fb, db) = two["甲体系"], two["乙体系"]
    admin, staff = make_user("admin"), make_user("staff")
    web, staff_web = login(admin), login(staff)
    reader = token_for(make_user("reviewer"))
    client = app.test_client()
    assert _hits(client, reader) == sorted([da, db])

    response = web.post(f"/frameworks/{fa}/archive")
    assert response.status_code == 302
    assert _hits(client, reader) == [db]  # its document is out of every search
    assert (
        client.get(f"/api/v1/search?q=订单班&framework={fa}", headers=reader).get_json()["hits"]
        == []
    )
    home = staff_web.get("/").get_data(as_text=True)
    assert f'href="/frameworks/{fb}"' in home and f'href="/frameworks/{fa}"' not in home
    assert "已归档" not in home  # the archive list is for administrators
    admin_home = web.get("/").get_data(as_text=True)
    assert f'href="/frameworks/{fa}"' not in admin_home
    archived = admin_home[admin_home.index('id="archived"') :]
    assert "甲体系" in archived and f'action="/frameworks/{fa}/unarchive"' in archived
    picker = staff_web.get("/upload").get_data(as_text=True)
    assert f'<option value="{fb}">' in picker and f'<option value="{fa}">' not in picker
    search_page = staff_web.get("/search").get_data(as_text=True)
    assert f'<option value="{fb}" ' in search_page
    assert f'<option value="{fa}" ' not in search_page
    with runtime.session() as s:  # files sent without a framework go to one in use
        assert default_framework_id(s) == fb
    with runtime.session() as s:
        assert s.get(Framework, fa).archived_at is not None
        assert s.get(Document, da).deleted is False  # kept, only hidden

    assert web.post(f"/frameworks/{fa}/unarchive").status_code == 302
    assert _hits(client, reader) == sorted([da, db])
    assert f'href="/frameworks/{fa}"' in staff_web.get("/").get_data(as_text=True)
    assert [(a.object_id, a.detail["name"]) for a in _actions(runtime, "framework.archive")] == [
        (fa, "甲体系")
    ]
    assert [a.username for a in _actions(runtime, "framework.unarchive")] == [admin.username]


def test_delete_needs_the_name_and_takes_the_documents_with_it(
    app, runtime, two, make_user, login, token_for
) -> None:
    (fa, da), (fb, db) = two["甲体系"], two["乙体系"]
    admin = make_user("admin")
    web = login(admin)
    reader = token_for(make_user("reviewer"))

    page = web.get(f"/frameworks/{fa}/delete").get_data(as_text=True)
    assert "上传到本指标体系的材料 1 份" in page  # says what happens to the files
    assert "与逐份删除文件相同" in page and "删除后无法恢复" in page

    wrong = web.post(f"/frameworks/{fa}/delete", data={"confirm_name": "乙体系"})
    assert wrong.status_code == 400
    assert "请输入完整的指标体系名称以确认删除" in wrong.get_data(as_text=True)
    with runtime.session() as s:
        assert s.get(Framework, fa) is not None and not s.get(Document, da).deleted

    done = web.post(f"/frameworks/{fa}/delete", data={"confirm_name": " 甲体系 "})
    assert done.status_code == 302
    with runtime.session() as s:
        assert s.get(Framework, fa) is None
        assert s.scalar(select(Indicator.id).where(Indicator.framework_id == fa)) is None
        assert s.scalar(select(CatalogEntry.id).where(CatalogEntry.framework_id == fa)) is None
        document = s.get(Document, da)
        assert document.deleted is True and document.links == []
        assert s.scalar(select(DocumentLink.id).where(DocumentLink.document_id == da)) is None
        assert s.get(Framework, fb) is not None and not s.get(Document, db).deleted
    assert runtime.search_index().doc_ids() == {db}  # the index followed the commit
    assert _hits(app.test_client(), reader) == [db]
    (entry,) = _actions(runtime, "framework.delete")
    assert entry.object_id == fa and entry.username == admin.username
    assert entry.detail["name"] == "甲体系" and entry.detail["documents"] == 1
    assert [a.object_id for a in _actions(runtime, "document.delete")] == [da]
    assert web.get(f"/frameworks/{fa}").status_code == 404


@pytest.mark.parametrize("role", ["staff", "reviewer", "auditor", "expert"])
def test_only_administrators_archive_or_delete(
    app, runtime, two, make_user, login, token_for, role
):
    fa, _ = two["甲体系"]
    user = make_user(role)
    headers = token_for(user)
    client = app.test_client()
    for method, url in (
        ("POST", f"/api/v1/frameworks/{fa}/archive"),
        ("POST", f"/api/v1/frameworks/{fa}/unarchive"),
        ("DELETE", f"/api/v1/frameworks/{fa}?confirm=甲体系"),
    ):
        response = client.open(url, method=method, headers=headers)
        assert (response.status_code, response.get_json()) == (403, {"error": "没有权限"})
    if role != "expert":  # experts have their own area; the pages refuse them too
        web = login(user)
        assert web.post(f"/frameworks/{fa}/archive").status_code == 403
        assert web.get(f"/frameworks/{fa}/delete").status_code == 403
        assert (
            web.post(f"/frameworks/{fa}/delete", data={"confirm_name": "甲体系"}).status_code == 403
        )
    with runtime.session() as s:
        framework = s.get(Framework, fa)
        assert framework is not None and framework.archived_at is None


def test_the_api_archives_and_deletes(app, runtime, two, make_user, token_for) -> None:
    fa, da = two["甲体系"]
    headers = token_for(make_user("admin"))
    client = app.test_client()
    archived = client.post(f"/api/v1/frameworks/{fa}/archive", headers=headers).get_json()
    assert archived["archived"] is True and archived["archived_at"]
    listed = client.get("/api/v1/frameworks", headers=headers).get_json()["frameworks"]
    assert {f["id"]: f["archived"] for f in listed} == {fa: True, two["乙体系"][0]: False}
    again = client.post(f"/api/v1/frameworks/{fa}/archive", headers=headers).get_json()
    assert again["archived_at"] == archived["archived_at"]  # archived once, audited once
    assert len(_actions(runtime, "framework.archive")) == 1
    restored = client.post(f"/api/v1/frameworks/{fa}/unarchive", headers=headers).get_json()
    assert restored == {"id": fa, "name": "甲体系", "archived": False, "archived_at": None}

    unconfirmed = client.delete(f"/api/v1/frameworks/{fa}", headers=headers)
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.get_json()["error"]
    assert (
        client.delete(f"/api/v1/frameworks/{fa + 100}?confirm=x", headers=headers).status_code
        == 404
    )
    deleted = client.delete(f"/api/v1/frameworks/{fa}?confirm=甲体系", headers=headers)
    assert deleted.status_code == 200
    body = deleted.get_json()
    assert (body["id"], body["deleted"], body["documents"]) == (fa, True, 1)
    assert body["indicators"] > 0 and body["entries"] > 0
    assert client.get(f"/api/v1/frameworks/{fa}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/documents/{da}", headers=headers).status_code == 404


def test_the_cli_archives_and_deletes(runtime, two, invoke) -> None:
    fa, da = two["甲体系"]
    assert f"已归档指标体系 #{fa} 甲体系" in invoke("framework", "archive", str(fa)).output
    listed = invoke("framework", "list").output
    assert "甲体系（2023）" in listed and "（已归档）" in listed
    assert f"已恢复指标体系 #{fa} 甲体系" in invoke("framework", "unarchive", str(fa)).output
    assert "（已归档）" not in invoke("framework", "list").output
    asked = invoke("framework", "delete", str(fa), input="n\n")
    assert "上传到其中的材料 1 份" in asked.output and asked.exit_code != 0
    with runtime.session() as s:
        assert s.get(Framework, fa) is not None
    done = invoke("framework", "delete", str(fa), "--yes")
    assert done.exit_code == 0 and f"已删除指标体系 #{fa} 甲体系 及其 1 份材料" in done.output
    with runtime.session() as s:
        assert s.get(Framework, fa) is None and s.get(Document, da).deleted
    assert [a.username for a in _actions(runtime, "framework.delete")] == ["system"]
    assert invoke("framework", "archive", "99999").exit_code != 0


def test_search_leaves_archived_documents_out_however_it_is_restricted(
    app, runtime, two, make_framework, make_user, token_for, tmp_path: Path
) -> None:
    (fa, da), (fb, db) = two["甲体系"], two["乙体系"]
    fc = make_framework(name="丙体系", year=2024)["framework_id"]
    path = tmp_path / "2.3.4-1 丙.txt"
    path.write_text("迅达电梯订单班 丙体系", encoding="utf-8")
    dc = ingest_files(runtime, [path], framework_id=fc).documents[0]["id"]
    with runtime.unit_of_work() as s:
        assert leave_out_archived(s, None, None) == (None, None)  # nothing archived: as asked
        archive_framework(s, s.get(Framework, fa), None)
    client, reader = app.test_client(), token_for(make_user("reviewer"))
    assert _hits(client, reader) == sorted([db, dc])
    with runtime.session() as s:
        assert leave_out_archived(s, None, None) == (None, {db, dc})  # two in use: listed
        assert leave_out_archived(s, None, {da, db}) == (None, {db})  # access: subtracted
        assert leave_out_archived(s, None, {da}) is None
        assert leave_out_archived(s, fa, None) is None
        assert leave_out_archived(s, fb, {db}) == (fb, {db})
    with runtime.unit_of_work() as s:
        archive_framework(s, s.get(Framework, fc), None)
    with runtime.session() as s:  # one framework in use: its filter is enough
        assert leave_out_archived(s, None, None) == (fb, None)
    assert _hits(client, reader) == [db]
