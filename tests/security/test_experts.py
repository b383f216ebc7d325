"""Outside experts: an invitation (CLI or admin page) gives a sign-in link and an API token
for one framework (or some of its indicators) and a period. Both stop at the end of the
period and at revocation on the next request; nothing outside the scope is reachable, not
even a name."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from storage import AuditLog, CatalogEntry, User, utcnow
from tests import factories


@pytest.fixture
def library(runtime, make_framework, framework_fixtures):
    """Two frameworks; documents under 2.3.4 and 2.3.5 of the first, one in the second."""
    fid = make_framework()["framework_id"]
    other = make_framework(framework_fixtures / "A类规划自评打分表.xlsx", name="另一所学校的体系")[
        "framework_id"
    ]
    docs = {}
    with runtime.unit_of_work() as s:
        for key, framework_id, code, text in (
            ("in", fid, "2.3.4-1", "迅达电梯订单班学生名单"),
            ("out", fid, "2.3.5-1", "现代学徒制订单班试点报告"),
            ("other", other, "2.3.4-1", "外校订单班合作协议"),
        ):
            entry = s.scalars(
                select(CatalogEntry).where(
                    CatalogEntry.framework_id == framework_id, CatalogEntry.code == code
                )
            ).one()
            doc = factories.add_document(
                s,
                runtime,
                framework_id,
                f"{code} {text}.txt",
                text.encode(),
                entry=entry,
                pages=[(text, "text")],
            )
            docs[key] = doc.id
    return {"fid": fid, "other": other, "docs": docs}


def _invite(invoke, *args: str) -> dict:
    result = invoke("expert", "invite", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _bearer(invitation: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {invitation['token']}"}


def _sign_in(app, invitation: dict):
    client = app.test_client()
    path = invitation["url"].split("5000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "王专家" in page.get_data(as_text=True)
    entered = client.post(path)
    assert entered.status_code == 302 and entered.headers["Location"] == "/expert"
    return client, path


def test_invite_gives_a_link_and_a_token_for_the_scope_only(app, invoke, library) -> None:
    invitation = _invite(
        invoke,
        "--framework",
        str(library["fid"]),
        "--name",
        "王专家",
        "--indicators",
        "2.3.4",
        "--days",
        "14",
    )
    assert set(invitation) == {"expert_id", "url", "token", "expires_at"}
    assert invitation["url"].startswith("http://127.0.0.1:5000/expert/signin/")
    api = app.test_client()
    hits = api.get("/api/v1/search?q=订单班", headers=_bearer(invitation)).get_json()["hits"]
    assert [h["document_id"] for h in hits] == [library["docs"]["in"]]
    # the staff tree and its counts are not theirs; other documents are not found
    assert api.get("/api/v1/frameworks", headers=_bearer(invitation)).status_code == 403
    for key in ("out", "other"):
        response = api.get(f"/api/v1/documents/{library['docs'][key]}", headers=_bearer(invitation))
        assert response.status_code in (403, 404)
        assert "订单班" not in response.get_data(as_text=True)
    assert (
        api.get(f"/api/v1/documents/{library['docs']['in']}", headers=_bearer(invitation))
    ).status_code == 200

    client, _ = _sign_in(app, invitation)
    page = client.get(f"/documents/{library['docs']['in']}")
    assert page.status_code == 200 and "迅达电梯订单班" in page.get_data(as_text=True)
    assert client.get(f"/frameworks/{library['fid']}").status_code == 403
    search = client.get("/search?q=订单班").get_data(as_text=True)
    assert "迅达电梯订单班" in search
    assert "试点报告" not in search and "外校" not in search
    assert "另一所学校的体系" not in search  # not even the other framework's name
    other = client.get(f"/documents/{library['docs']['other']}")
    assert other.status_code in (403, 404) and "外校" not in other.get_data(as_text=True)


def test_the_period_ends_on_the_next_request(app, runtime, invoke, library) -> None:
    invitation = _invite(
        invoke, "--framework", str(library["fid"]), "--name", "王专家", "--days", "3"
    )
    client, link = _sign_in(app, invitation)
    doc = f"/documents/{library['docs']['in']}"
    assert client.get(doc).status_code == 200
    with runtime.unit_of_work() as s:
        s.get(User, invitation["expert_id"]).expires_at = utcnow() - timedelta(seconds=1)
    assert client.get(doc).status_code == 302  # the session no longer loads the user
    api = app.test_client().get("/api/v1/search?q=订单班", headers=_bearer(invitation))
    assert api.status_code == 401
    gone = app.test_client().get(link)
    assert gone.status_code == 410 and "已失效" in gone.get_data(as_text=True)


def test_revocation_ends_link_sessions_and_token_at_once(app, runtime, invoke, library) -> None:
    invitation = _invite(
        invoke, "--framework", str(library["fid"]), "--name", "王专家", "--days", "3"
    )
    client, link = _sign_in(app, invitation)
    doc = f"/documents/{library['docs']['in']}"
    assert client.get(doc).status_code == 200
    result = invoke("expert", "revoke", str(invitation["expert_id"]))
    assert result.exit_code == 0 and "已撤销" in result.output
    assert client.get(doc).status_code == 302
    assert app.test_client().get(link).status_code == 410
    assert app.test_client().get(doc, headers=_bearer(invitation)).status_code in (302, 401)
    assert (
        app.test_client().get("/api/v1/search?q=订单班", headers=_bearer(invitation)).status_code
        == 401
    )
    listed = json.loads(invoke("expert", "list", "--json").output)
    assert listed[0]["revoked"] is True and listed[0]["active"] is False
    with runtime.session() as s:
        actions = set(s.scalars(select(AuditLog.action)))
    assert {"expert.invite", "expert.signin", "expert.revoke"} <= actions


def test_bad_invitations_are_refused_with_a_reason(invoke, library) -> None:
    fid = str(library["fid"])
    cases = [
        (["--framework", "999", "--name", "王", "--days", "3"], "指标体系 999 不存在"),
        (["--framework", fid, "--name", "王", "--until", "2020-01-01"], "已过"),
        (["--framework", fid, "--name", "王"], "--days"),
        (["--framework", fid, "--name", "王", "--days", "3", "--indicators", "9.9"], "9.9"),
    ]
    for args, reason in cases:
        result = invoke("expert", "invite", *args)
        assert result.exit_code == 1 and reason in result.output, (args, result.output)


def test_admin_invites_and_revokes_on_the_web(app, runtime, make_user, login, library) -> None:
    admin = login(make_user("admin"))
    page = admin.post(
        "/admin/experts",
        data={"name": "李专家", "framework_id": str(library["fid"]), "days": "7", "lead": "1"},
    )
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "/expert/signin/" in body and "李专家（组长）" in body
    with runtime.session() as s:
        expert = s.scalars(select(User).where(User.role == "expert")).one()
        assert expert.is_lead and expert.expires_at > utcnow() + timedelta(days=6)
    revoked = admin.post(f"/admin/experts/{expert.id}/revoke")
    assert revoked.status_code == 302
    assert "已撤销" in admin.get("/admin/experts").get_data(as_text=True)
    refused = admin.post("/admin/experts", data={"name": "", "framework_id": str(library["fid"])})
    assert refused.status_code == 400


def test_an_expert_cannot_be_edited_into_staff(app, runtime, make_user, login, invoke, library):
    invitation = _invite(
        invoke, "--framework", str(library["fid"]), "--name", "王专家", "--days", "3"
    )
    admin = login(make_user("admin"))
    response = admin.post(
        f"/admin/users/{invitation['expert_id']}",
        data={"action": "update", "role": "admin", "display_name": "x"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/admin/experts"
    with runtime.session() as s:
        assert s.get(User, invitation["expert_id"]).role == "expert"


def test_a_document_page_sends_the_expert_to_their_review_screen(app, invoke, library) -> None:
    invitation = _invite(
        invoke, "--framework", str(library["fid"]), "--name", "王专家", "--days", "3"
    )
    client, _ = _sign_in(app, invitation)
    page = client.get(f"/documents/{library['docs']['in']}").get_data(as_text=True)
    assert 'href="/expert/indicators/' in page and 'href="/indicators/' not in page
