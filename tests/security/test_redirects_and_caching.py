"""Redirects stay on this site; nothing a signed-in user sees is kept by a cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import factories

OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.fixture
def document_id(runtime, make_framework, tmp_path: Path) -> int:
    fid = make_framework()["framework_id"]
    path = tmp_path / "2.3.4-1 明细表.txt"
    path.write_text("订单班名单", encoding="utf-8")
    return factories.ingest(runtime, [path], fid).documents[0]["id"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_retry_never_redirects_off_site(make_user, login, document_id, target) -> None:
    client = login(make_user("staff"))
    response = client.post(f"/documents/{document_id}/retry", data={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/documents/{document_id}"


def test_retry_keeps_a_path_on_this_site(make_user, login, document_id) -> None:
    client = login(make_user("staff"))
    response = client.post(f"/documents/{document_id}/retry", data={"next": "/queue?x=1"})
    assert response.headers["Location"] == "/queue?x=1"


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(app, make_user, target) -> None:
    user = make_user("staff")
    response = app.test_client().post(
        "/login",
        query_string={"next": target},
        data={"username": user.username, "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signed_in_responses_are_not_stored(app, make_user, login, document_id) -> None:
    client = login(make_user("reviewer"))
    for url in ("/", "/search?q=订单班", f"/documents/{document_id}", "/coverage"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Cache-Control"] == "no-store", url
    token = factories.bearer_header(app.extensions["evidence"], make_user("auditor"))
    api = app.test_client().get("/api/v1/frameworks", headers=token)
    assert api.headers["Cache-Control"] == "no-store"
    # static assets may be cached
    static = app.test_client().get("/static/css/app.css", buffered=True)
    assert static.headers.get("Cache-Control") != "no-store"
