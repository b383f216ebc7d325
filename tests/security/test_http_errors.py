"""HTTP errors keep their protocol headers: a 405 says which methods the URL allows."""

from __future__ import annotations


def test_405_lists_the_allowed_methods(app, make_user, login, token_for) -> None:
    headers = token_for(make_user("admin"))
    api = app.test_client().put("/api/v1/frameworks", headers=headers)
    assert api.status_code == 405
    assert set(api.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert api.get_json() == {"error": "不支持的请求方法"}
    web = login(make_user("staff")).delete("/upload")
    assert web.status_code == 405
    assert "POST" in web.headers["Allow"] and "GET" in web.headers["Allow"]
