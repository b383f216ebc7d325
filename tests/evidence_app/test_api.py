"""REST API: every endpoint for every role, tokens, limits, and the OpenAPI description."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

ROLES = ("admin", "staff", "reviewer", "auditor")
ALL = set(ROLES)

ENDPOINTS: dict[tuple[str, str], set[str]] = {
    ("GET", "/frameworks"): ALL,
    ("POST", "/frameworks"): {"admin"},
    ("GET", "/frameworks/{framework_id}"): ALL,
    ("POST", "/documents"): {"admin", "staff"},
    ("GET", "/documents/{document_id}"): ALL,
    ("GET", "/documents/{document_id}/status"): ALL,
    ("GET", "/documents/{document_id}/download"): ALL,
    ("POST", "/documents/{document_id}/versions"): {"admin", "staff"},
    ("DELETE", "/documents/{document_id}"): {"admin", "staff"},
    ("GET", "/search"): ALL,
    ("GET", "/frameworks/{framework_id}/marks"): {"admin", "reviewer", "auditor"},
    ("PUT", "/frameworks/{framework_id}/marks/{indicator_code}"): set(),  # experts only
    ("GET", "/requests"): {"admin", "staff"},
    ("GET", "/documents/status"): ALL,
    ("POST", "/frameworks/{framework_id}/archive"): {"admin"},
    ("POST", "/frameworks/{framework_id}/unarchive"): {"admin"},
    ("DELETE", "/frameworks/{framework_id}"): {"admin"},
    ("GET", "/documents/{document_id}/suggestions"): ALL,
    ("GET", "/documents/{document_id}/similar"): ALL,
}


@pytest.fixture
def api(app, runtime, make_framework, make_user, token_for, tmp_path: Path):
    from evidence_app.documents.ingest import ingest_files

    fw = make_framework()["framework_id"]
    users = {role: make_user(role) for role in ROLES}
    headers = {role: token_for(users[role]) for role in ROLES}
    path = tmp_path / "2.3.4-1 订单学明细表.txt"
    path.write_text("迅达电梯订单班 第一期", encoding="utf-8")
    doc = ingest_files(runtime, [path], framework_id=fw).documents[0]["id"]
    return {"fw": fw, "doc": doc, "headers": headers, "client": app.test_client(), "tmp": tmp_path}


def call(api, role, method, path, **kwargs):
    client = api["client"]
    url = "/api/v1" + path.format(
        framework_id=api["fw"], document_id=api["doc"], indicator_code="2.3.4"
    )
    headers = api["headers"][role] if role else {}
    return client.open(url, method=method, headers=headers, **kwargs)


def request_body(api, method: str, path: str) -> dict:
    if path == "/frameworks" and method == "POST":
        data = Path(api["tmp"] / "t.csv")
        data.write_text(
            "序号,一级指标,二级指标,三级指标,自评得分,佐证材料目录\n1,1. 甲 (2分),1.1 乙 (2分),1.1.1 丙（2分）,2,1.1.1-1 报告\n",
            encoding="utf-8",
        )
        return {
            "data": {"file": (io.BytesIO(data.read_bytes()), "t.csv"), "name": "接口测试"},
            "content_type": "multipart/form-data",
        }
    if path == "/documents":
        return {
            "data": {
                "files": [(io.BytesIO("订单班 API".encode()), "2.3.4-3 协议.txt")],
                "framework_id": str(api["fw"]),
            },
            "content_type": "multipart/form-data",
        }
    if path.endswith("/versions"):
        return {
            "data": {"file": (io.BytesIO("新版本 订单班".encode()), "2.3.4-1 新版.txt")},
            "content_type": "multipart/form-data",
        }
    if path == "/search":
        return {"query_string": {"q": "订单班"}}
    if path == "/documents/status":
        return {"query_string": {"ids": f"{api['doc']},999999"}}
    if method == "PUT":
        return {"json": {"mark": "ok"}}
    return {}


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_for_every_role(api, role: str) -> None:
    for (method, path), allowed in ENDPOINTS.items():
        if method == "DELETE":
            continue
        response = call(api, role, method, path, **request_body(api, method, path))
        response.close()
        if role in allowed:
            assert response.status_code in (200, 201), (
                role,
                method,
                path,
                response.status_code,
                response.get_data(as_text=True)[:300],
            )
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert response.get_json() == {"error": "没有权限"}
    deleted = call(api, role, "DELETE", "/documents/{document_id}")
    if role in ENDPOINTS[("DELETE", "/documents/{document_id}")]:
        assert deleted.get_json() == {"id": api["doc"], "deleted": True}
        assert call(api, "admin", "GET", "/documents/{document_id}").status_code == 404
    else:
        assert deleted.status_code == 403


def test_no_token_bad_token_revoked_token(api, runtime) -> None:
    client = api["client"]
    assert client.get("/api/v1/frameworks").get_json() == {"error": "未登录或令牌无效"}
    assert client.get("/api/v1/frameworks").status_code == 401
    bad = client.get("/api/v1/frameworks", headers={"Authorization": "Bearer ev_nope"})
    assert bad.status_code == 401
    from sqlalchemy import select

    from storage import ApiToken

    with runtime.session() as s:
        tokens = s.scalars(select(ApiToken)).all()
        assert all(len(t.token_hash) == 64 for t in tokens)
        raw = api["headers"]["admin"]["Authorization"][7:]
        assert all(raw not in (t.token_hash, t.prefix + "x") for t in tokens)
        for t in tokens:
            t.revoked = True
        s.commit()
    assert call(api, "admin", "GET", "/frameworks").status_code == 401


def test_search_api_matches_cli_shape(api, invoke) -> None:
    import json

    via_api = call(
        api, "reviewer", "GET", "/search", query_string={"q": "迅达电梯订单班"}
    ).get_json()
    via_cli = json.loads(invoke("search", "迅达电梯订单班", "--json").output)
    for result in (via_api, via_cli):
        assert set(result) >= {"total", "took_ms", "hits"}
        assert result["total"] == 1
        hit = result["hits"][0]
        assert set(hit) >= {
            "document_id",
            "code",
            "title",
            "indicators",
            "score",
            "pages",
            "snippets",
        }
        assert (hit["document_id"], hit["code"], hit["indicators"], hit["pages"]) == (
            api["doc"],
            "2.3.4-1",
            ["2.3.4"],
            [1],
        )
        assert "<mark>" in hit["snippets"][0]["html"]
    assert call(api, "reviewer", "GET", "/search").get_json() == {"error": "缺少查询参数 q"}


def test_upload_limit_is_413(api, app) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 512 * 1024
    big = {"files": [(io.BytesIO(b"x" * (600 * 1024)), "big.txt")]}
    response = call(
        api, "staff", "POST", "/documents", data=big, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    assert "超过大小上限" in response.get_json()["error"]


def test_per_file_limit_is_413(api, runtime) -> None:
    runtime.config.MAX_UPLOAD_BYTES = 1000
    big = {"files": [(io.BytesIO(b"y" * 2000), "2.3.4-2 大文件.txt")]}
    response = call(
        api, "staff", "POST", "/documents", data=big, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    body = response.get_json()
    assert body["error"] == "文件超过上传上限（1 KB），未接收"  # not "0 MB"
    assert body["rejected"][0]["name"] == "2.3.4-2 大文件.txt"


def test_not_found_and_bad_requests_are_json(api) -> None:
    assert call(api, "admin", "GET", "/documents/99999").get_json() == {"error": "资源不存在"}
    missing = call(api, "admin", "POST", "/documents", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.get_json() == {"error": "缺少文件字段 files"}
    bad_table = call(
        api,
        "admin",
        "POST",
        "/frameworks",
        data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert bad_table.status_code == 400 and "未找到表头" in bad_table.get_json()["error"]


def test_openapi_describes_exactly_the_routes(app, api) -> None:
    spec = api["client"].get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    described = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule[len("/api/v1") :])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    assert described == served
    assert {k for k in served if k[1] != "/openapi.json"} == set(ENDPOINTS)


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _check(spec: dict, schema: dict, value, where: str) -> None:
    schema = _resolve(spec, schema)
    if "allOf" in schema:
        for part in schema["allOf"]:
            _check(spec, part, value, where)
        return
    if "oneOf" in schema:
        errors = []
        for part in schema["oneOf"]:
            try:
                _check(spec, part, value, where)
                return
            except AssertionError as e:
                errors.append(str(e))
        raise AssertionError(f"{where}: no oneOf branch matched: {errors}")
    kind = schema.get("type")
    if value is None:
        assert schema.get("nullable"), f"{where}: null not allowed"
        return
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
    }
    if kind:
        assert isinstance(value, types[kind]), (
            f"{where}: expected {kind}, got {type(value).__name__}"
        )
    for key in schema.get("required", []):
        assert key in value, f"{where}: missing {key}"
    for key, sub in schema.get("properties", {}).items():
        if isinstance(value, dict) and key in value:
            _check(spec, sub, value[key], f"{where}.{key}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            _check(spec, schema["items"], item, f"{where}[{i}]")


def test_responses_match_the_openapi_schemas(api) -> None:
    spec = api["client"].get("/api/v1/openapi.json").get_json()
    checked = 0
    for method, path in ENDPOINTS:
        if method == "DELETE" or path.endswith("/download"):
            continue
        response = call(api, "admin", method, path, **request_body(api, method, path))
        declared = spec["paths"][path][method.lower()]["responses"][str(response.status_code)]
        schema = declared["content"]["application/json"]["schema"]
        _check(spec, schema, response.get_json(), f"{method} {path}")
        checked += 1
    for path, code in (("/documents/99999", 404), ("/search", 400)):
        response = call(api, "admin", "GET", path)
        assert response.status_code == code
        schema = spec["paths"][path if path == "/search" else "/documents/{document_id}"]["get"][
            "responses"
        ][str(code)]
        _check(spec, schema["content"]["application/json"]["schema"], response.get_json(), path)
    assert checked == 16


def test_web_api_and_cli_store_the_same_result(api, app, login, make_user, invoke, runtime) -> None:
    """The same file through the three doors gives the same stored document."""
    from sqlalchemy import select

    from storage import Document

    name = "2.5.2-1 专业课专任教师一览表.txt"
    payload = "双师型专业课专任教师 一览".encode()
    results = {}
    # API
    response = call(
        api,
        "staff",
        "POST",
        "/documents",
        data={"files": [(io.BytesIO(payload), name)], "framework_id": str(api["fw"])},
        content_type="multipart/form-data",
    )
    results["api"] = response.get_json()["documents"][0]
    # web (a second framework would dedupe; delete the first to store again)
    call(api, "admin", "DELETE", "/documents/" + str(results["api"]["id"]))
    client = login(make_user("staff", "web-staff"))
    response = client.post(
        "/upload",
        data={"files": [(io.BytesIO(payload), name)], "framework_id": str(api["fw"])},
        content_type="multipart/form-data",
    )
    results["web"] = response.get_json()["documents"][0]
    call(api, "admin", "DELETE", "/documents/" + str(results["web"]["id"]))
    # CLI
    path = api["tmp"] / name
    path.write_bytes(payload)
    import json

    results["cli"] = json.loads(
        invoke("ingest", str(path), "--framework", str(api["fw"]), "--json").output
    )["documents"][0]
    # the API and the web answer before processing (queued); the CLI after it
    shapes = {
        k: {key: v[key] for key in ("name", "code", "entry", "indicator")}
        for k, v in results.items()
    }
    assert (
        shapes["api"]
        == shapes["web"]
        == shapes["cli"]
        == {
            "name": name,
            "code": "2.5.2-1",
            "entry": "2.5.2-1",
            "indicator": "2.5.2",
        }
    )
    assert results["cli"]["status"] == "indexed"
    with runtime.session() as s:
        docs = [s.get(Document, results[k]["id"]) for k in ("api", "web", "cli")]
        assert len({d.current.blob_sha256 for d in docs}) == 1
        assert {(d.title, d.file_type, d.page_count, d.status) for d in docs} == {
            ("专业课专任教师一览表", "text", 1, "indexed")
        }
        assert s.scalars(
            select(Document.id).where(Document.deleted.is_(False), Document.code == "2.5.2-1")
        ).all() == [results["cli"]["id"]]
