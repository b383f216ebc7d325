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


def test_statuses_without_their_own_text_still_answer_in_chinese(app) -> None:
    """416 (a Range beyond the file) has its own text; any other status the app has no text
    for says its number in Chinese, never Werkzeug's English name."""
    from werkzeug.exceptions import ImATeapot, RequestedRangeNotSatisfiable

    for url, e, expected in (
        ("/api/v1/documents/1/download", RequestedRangeNotSatisfiable(length=31), "超出文件大小"),
        ("/api/v1/frameworks", ImATeapot(), "请求无法完成（HTTP 418）"),
        ("/documents/1/download", RequestedRangeNotSatisfiable(length=31), "超出文件大小"),
        ("/search", ImATeapot(), "请求无法完成（HTTP 418）"),
    ):
        with app.test_request_context(url, headers={"Accept": "application/json"}):
            response = app.make_response(app.handle_http_exception(e))
        assert expected in response.get_json()["error"], url
        if isinstance(e, RequestedRangeNotSatisfiable):
            assert response.headers["Content-Range"] == "bytes */31"
