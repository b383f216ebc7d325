"""Numbers beyond any database id, in URLs, query strings and forms, answer 404 or are
ignored — never a 500 from the database driver."""

from __future__ import annotations

import re

import pytest

HUGE = [2**31, 4711908492, 2**63, 2**64, 10**30, -(2**63) - 1]  # ids are INTEGER


def _routes_with_ids(app) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not any(c.__class__.__name__ == "IdConverter" for c in rule._converters.values()):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, rule.rule))
    return out


def test_every_route_with_an_id_refuses_huge_numbers(app, make_user, login, token_for) -> None:
    admin = make_user("admin")
    web = login(admin)
    api = app.test_client()
    headers = token_for(admin)
    routes = _routes_with_ids(app)
    assert len(routes) >= 18  # documents, indicators, users, frameworks, API …
    for method, rule in routes:
        for number in HUGE:
            url = re.sub(r"<int:\w+>", str(number), rule)
            client, extra = (api, headers) if url.startswith("/api/") else (web, {})
            response = client.open(url, method=method, headers=extra, data={"code": "2.3.4-1"})
            assert response.status_code == 404, (method, url, response.status_code)


@pytest.mark.parametrize("number", HUGE)
def test_huge_numbers_in_query_strings_and_forms(
    app, make_user, login, token_for, make_framework, number
) -> None:
    make_framework()
    admin = make_user("admin")
    web = login(admin)
    headers = token_for(admin)
    api = app.test_client()
    for url in (
        f"/search?q=订单班&framework={number}&page={number}",
        f"/coverage?framework={number}",
        f"/upload?entry_id={number}&indicator_id={number}",
    ):
        assert web.get(url).status_code in (200, 404), url
    for url in (
        f"/api/v1/search?q=订单班&framework={number}&limit={number}&offset={number}",
        f"/api/v1/documents/1/download?version={number}",
    ):
        assert api.get(url, headers=headers).status_code in (200, 400, 404), url
    response = api.post(
        "/api/v1/documents",
        headers=headers,
        data={"entry_id": str(number), "framework_id": str(number), "files": []},
    )
    assert response.status_code in (400, 404)
    response = web.post(
        "/frameworks/import",
        data={"year": str(number), "name": "x"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
