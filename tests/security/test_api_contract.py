"""Schemathesis over /api/v1/openapi.json: generated requests, valid and invalid, against
every documented operation, as an admin, as limited-scope staff, as an outside expert (网评,
limited to some indicators, with a 调阅 request already answered) and without a token. Each
answer must not be a 500 and must have a documented status code, the documented content
type, a body matching the documented schema, the documented headers and, when it is an
error, a Chinese message. Realistic requests (file names with codes, a real table, a ZIP,
conditional and partial downloads) go through the same checks.

Each operation runs in its own test on a fresh app and data, so DELETE (and new versions,
uploads, imports) cannot turn the other operations' requests into 404s; within a test the
callers who may not delete go first. Nothing is left out.

The cases come from ``APIOperation.as_strategy`` under our own ``@given`` rather than from
``schemathesis.pytest.from_fixture``: that loader sets ``Function._nodeid``, which pytest 9.2
no longer has, and the app here is a per-test fixture (two databases, a temporary folder).
"""

from __future__ import annotations

import gc
import io
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from sqlalchemy import select

from evidence_app.api.openapi import spec
from evidence_app.experts.access import end_of_access, invite_expert
from evidence_app.review.marks import set_mark
from evidence_app.review.requests import answer_request
from storage import Indicator, User
from tests import factories


def error_in_chinese(ctx, response, case) -> None:
    """An error answer's message is for the college's staff: Chinese, never Werkzeug's
    English name of the status."""
    if response.status_code >= 400 and "json" in response.headers.get("content-type", [""])[0]:
        body = response.json()
        if "error" not in body:
            return  # an upload's refusal report: its reasons are the ingest's own
        message = body["error"]
        assert re.search(r"[\u4e00-\u9fff]", message), f"error message not in Chinese: {message!r}"


CHECKS = [
    checks.not_a_server_error,  # first: the rebuilding index's 503 is expected
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    error_in_chinese,
]

# Reproducible in CI (derandomize, no example database), bounded for a 2-core machine.
FUZZ = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

SPEC = spec()
OPERATIONS = [(method.upper(), path) for path, ops in SPEC["paths"].items() for method in ops]

FILES = {
    "in_scope": ("1.1.1-1 专业设置报告.txt", "专业设置 调研报告"),
    "out_of_scope": ("2.3.4-1 订单学明细表.txt", "迅达电梯订单班 第一期"),
    "other": ("2.3.4-2 合作协议.txt", "校企合作 订单培养协议"),
}


@pytest.fixture
def seeded(app, runtime, make_framework, make_user, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A framework, documents inside and outside the limited staff's scope, and each
    caller's headers. Files uploaded during the test stay pending: extracting generated
    bytes is the processing tests' business, not the API's (the API answers before it);
    and Hypothesis seeds the global ``random`` for every example, so Whoosh (which names its
    segments with it) would write a segment name twice and fail its commit."""
    framework_id = make_framework()["framework_id"]
    ids = {}
    for key, (name, text) in FILES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        ids[key] = factories.ingest(runtime, [path], framework_id).documents[0]["id"]
    limited = make_user("staff", "limited-staff")
    factories.limit_scope(runtime, limited, framework_id, ["1.1"])
    admin = make_user("admin")
    with runtime.unit_of_work() as s:  # an expert for 1.1 whose 调阅 request was answered
        invited = invite_expert(
            s,
            framework_id=framework_id,
            name="王专家",
            expires_at=end_of_access(days=7),
            indicators=["1.1"],
        )
        leaf = s.scalars(select(Indicator).where(Indicator.code == "1.1.1")).one()
        asked = set_mark(s, invited.expert, leaf, "more", request_text="请补充调研报告原件")
        assert asked.request is not None
        answer_request(s, asked.request, s.get(User, admin.id), [ids["in_scope"]])
    callers = {
        "admin": factories.bearer_header(runtime, admin),
        "limited staff": factories.bearer_header(runtime, limited),
        "expert": {"Authorization": f"Bearer {invited.api_token}"},
        "anonymous": {},
    }
    real_ids = {
        "framework_id": [framework_id],
        "document_id": list(ids.values()),
        "indicator_code": ["1.1.1", "2.3.4"],  # in the expert's scope, and outside it
    }
    # small limits, so generated files and bodies meet them: the 413 answers are checked too
    runtime.config.MAX_UPLOAD_BYTES = 64
    app.config["MAX_CONTENT_LENGTH"] = 2048
    with factories.worker_stopped(runtime):
        yield {"callers": callers, "ids": real_ids}


def _fuzz(strategy, header: dict[str, str], run_checks=CHECKS) -> Callable[[], None]:
    @given(case=strategy)
    @FUZZ
    def run(case) -> None:
        # buffered: the WSGI transport reads a streamed answer (a download) but never
        # closes it, which would leave the blob's file open (a ResourceWarning).
        case.call_and_validate(headers=header, checks=run_checks, buffered=True)

    return run


def _strategies(operation, method: str, path: str, ids: dict[str, list[int]]):
    """Generated cases (invalid ones too when the operation takes any input), then valid
    cases on the seeded ids: random integers rarely name an existing row."""
    described = SPEC["paths"][path][method.lower()]
    strategies = {"positive": operation.as_strategy()}
    if described.get("parameters") or described.get("requestBody"):
        strategies["negative"] = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    for name in ids:
        if "{" + name + "}" in path:
            for value in ids[name]:
                fixed = operation.as_strategy(path_parameters={name: value})
                strategies[f"positive, {name}={value}"] = fixed
    yield from strategies.items()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_operation_matches_its_description(app, runtime, seeded, method: str, path: str) -> None:
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    # the callers who cannot delete go first, so they meet the documents still there
    for caller in ("anonymous", "expert", "limited staff", "admin"):
        header = seeded["callers"][caller]
        for label, strategy in _strategies(operation, method, path, seeded["ids"]):
            try:
                _fuzz(strategy, header)()
            except Exception as e:
                e.add_note(f"{method} {path} as {caller}: {label} cases")
                raise
    if path == "/search":  # while the index is rebuilt: 503 with Retry-After, as described
        runtime.health.rebuilding = True
        runtime.health.checked_at = time.monotonic()
        runtime.health.recheck_seconds = 3600
        admin = seeded["callers"]["admin"]
        case = operation.Case(query={"q": "订单班"})
        assert case.call_and_validate(headers=admin, checks=CHECKS[1:]).status_code == 503
        _fuzz(operation.as_strategy(), admin, CHECKS[1:])()


def test_an_unsatisfiable_range_leaves_no_file_open(app, seeded) -> None:
    leaked: list[object] = []
    previous, sys.unraisablehook = sys.unraisablehook, leaked.append
    try:
        response = app.test_client().get(
            f"/api/v1/documents/{seeded['ids']['document_id'][0]}/download",
            headers={**seeded["callers"]["admin"], "Range": "bytes=1000-2000"},
        )
        assert response.status_code == 416
        response.close()
        stale = app.test_client().get(  # If-Match of another content: 412, no body
            f"/api/v1/documents/{seeded['ids']['document_id'][0]}/download",
            headers={**seeded["callers"]["admin"], "If-Match": '"0000"'},
        )
        assert stale.status_code == 412 and stale.data == b""
        stale.close()
        del stale
        del response
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert not leaked


def test_real_uploads_imports_and_downloads_match_the_description(app, runtime, seeded) -> None:
    """What generated requests cannot reach: file names that carry codes (they link the
    upload), a real indicator table, a ZIP, conditional and partial downloads. Each answer
    goes through the same checks."""
    runtime.config.MAX_UPLOAD_BYTES = 300  # above the table, below the "大" files
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    client = app.test_client()
    admin, limited = seeded["callers"]["admin"], seeded["callers"]["limited staff"]
    in_scope, out_of_scope, _ = seeded["ids"]["document_id"]
    fw = seeded["ids"]["framework_id"][0]  # the table imported below becomes the newest
    with runtime.session() as s:
        outside = s.scalars(select(Indicator.id).where(Indicator.code == "2.3.4")).one()

    def send(method: str, path: str, caller, expected: int, doc: int = 0, **kwargs) -> None:
        url = "/api/v1" + path.format(document_id=doc)
        headers = {**caller, **kwargs.pop("also", {})}
        response = client.open(url, method=method, headers=headers, buffered=True, **kwargs)
        schema[path][method].Case().validate_response(response, checks=CHECKS)
        assert response.status_code == expected, (method, url, response.get_data()[:300])

    def files(*named: tuple[str, bytes], field: str = "files", **form: Any) -> dict[str, Any]:
        data = {field: [(io.BytesIO(content), name) for name, content in named], **form}
        return {"data": data, "content_type": "multipart/form-data"}

    table = "序号,一级指标,二级指标,三级指标,自评得分,佐证材料目录\n1,1. 甲 (2分),1.1 乙 (2分),1.1.1 丙（2分）,2,1.1.1-1 报告\n"
    for expected in (201, 200):  # created, then updated
        send(
            "POST", "/frameworks", admin, expected, **files(("t.csv", table.encode()), field="file")
        )
    send("POST", "/frameworks", admin, 400, **files(("x.csv", b"a,b\n1,2\n"), field="file"))

    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("2.3.5 现代学徒制/名单.txt", "学徒制名单".encode())
    upload = "/documents"
    send(
        "POST", upload, admin, 201, **files(("2.3.4-3 协议.txt", "协议".encode()), framework_id=fw)
    )
    send("POST", upload, admin, 201, **files(("材料.zip", zipped.getvalue())))
    send("POST", upload, admin, 400, **files(("2.3.4-4 空.txt", b"")))
    send("POST", upload, admin, 413, **files(("2.3.4-5 大.txt", b"x" * 400)))
    send("POST", upload, admin, 404, **files(("a.txt", b"a"), entry_id=10**9))
    send("POST", upload, limited, 400, **files(("2.3.4-6 外.txt", b"x"), framework_id=fw))
    send("POST", upload, limited, 403, **files(("a.txt", b"a"), indicator_id=outside))

    version = "/documents/{document_id}/versions"
    send("POST", version, limited, 201, in_scope, **files(("新版.txt", b"v2"), field="file"))
    send("POST", version, limited, 403, out_of_scope, **files(("b.txt", b"b"), field="file"))
    send("POST", version, admin, 413, in_scope, **files(("c.txt", b"c" * 400), field="file"))

    download = "/documents/{document_id}/download"
    send("GET", download, admin, 200, in_scope)
    first = client.get(f"/api/v1/documents/{in_scope}/download", headers=admin, buffered=True)
    send("GET", download, admin, 304, in_scope, also={"If-None-Match": first.headers["ETag"]})
    send("GET", download, admin, 206, in_scope, also={"Range": "bytes=0-3"})


def test_the_review_loop_matches_the_description(app, seeded) -> None:
    """网评 through the API with real bodies: an expert's marks in and out of scope, a new
    调阅 request, staff answering it by uploading, the lists of marks and requests."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    client = app.test_client()
    callers = seeded["callers"]
    fw = seeded["ids"]["framework_id"][0]

    def send(method: str, path: str, caller: str, expected: int, **kwargs) -> Any:
        url = "/api/v1" + path.format(framework_id=fw, indicator_code=kwargs.pop("code", ""))
        response = client.open(url, method=method, headers=callers[caller], **kwargs)
        schema[path][method].Case().validate_response(response, checks=CHECKS)
        assert response.status_code == expected, (method, url, response.get_data()[:300])
        return response.get_json()

    mark = "/frameworks/{framework_id}/marks/{indicator_code}"
    asked = send(
        "PUT", mark, "expert", 200, code="1.1.1", json={"mark": "more", "request": "原件扫描"}
    )
    assert asked["request"]["status"] == "open"
    send("PUT", mark, "expert", 200, code="1.1.1", json={"mark": "ok", "score": 2, "comment": ""})
    send("PUT", mark, "expert", 400, code="1.1.1", json={"mark": "ok", "score": 99})
    send("PUT", mark, "expert", 403, code="2.3.4", json={"mark": "ok"})
    send("PUT", mark, "expert", 404, code="9.9.9", json={"mark": "ok"})
    send("PUT", mark, "admin", 403, code="1.1.1", json={"mark": "ok"})
    again = send(
        "PUT", mark, "expert", 200, code="1.1.1", json={"mark": "more", "request": "盖章版"}
    )
    answered = send(
        "POST",
        "/documents",
        "limited staff",
        201,
        data={
            "files": [(io.BytesIO("盖章版".encode()), "盖章版.txt")],
            "request_id": again["request"]["id"],
        },
        content_type="multipart/form-data",
    )
    assert answered["request"] == {"id": again["request"]["id"], "status": "answered"}
    mine = send("GET", "/requests", "expert", 200)["requests"]
    assert [r["status"] for r in mine] == ["answered", "closed", "closed"]
    assert send("GET", "/requests", "limited staff", 200, query_string={"status": "all"})
    send("GET", "/requests", "admin", 400, query_string={"status": "whatever"})
    send("GET", "/frameworks/{framework_id}/marks", "expert", 200)
    send("GET", "/frameworks/{framework_id}/marks", "limited staff", 403)
