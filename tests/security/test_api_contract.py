"""Schemathesis over /api/v1/openapi.json: generated requests, valid and invalid, against
every documented operation, as an admin, as limited-scope staff and without a token. Each
answer must not be a 500 and must have a documented status code, the documented content
type, a body matching the documented schema and the documented headers.

Each operation runs in its own test on a fresh app and data, so DELETE (and new versions,
uploads, imports) cannot turn the other operations' requests into 404s; within a test the
callers who may not delete go first. Nothing is left out.

The cases come from ``APIOperation.as_strategy`` under our own ``@given`` rather than from
``schemathesis.pytest.from_fixture``: that loader sets ``Function._nodeid``, which pytest 9.2
no longer has, and the app here is a per-test fixture (two databases, a temporary folder).
"""

from __future__ import annotations

import gc
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from evidence_app.api.openapi import spec
from tests import factories


def error_in_chinese(ctx, response, case) -> None:
    """An error answer's message is for the college's staff: Chinese, never Werkzeug's
    English name of the status."""
    if response.status_code >= 400 and "json" in response.headers.get("content-type", [""])[0]:
        message = response.json().get("error", "")
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
    bytes is the processing tests' business, not the API's (the API answers before it)."""
    framework_id = make_framework()["framework_id"]
    ids = {}
    for key, (name, text) in FILES.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        ids[key] = factories.ingest(runtime, [path], framework_id).documents[0]["id"]
    limited = make_user("staff", "limited-staff")
    factories.limit_scope(runtime, limited, framework_id, ["1.1"])
    callers = {
        "admin": factories.bearer_header(runtime, make_user("admin")),
        "limited staff": factories.bearer_header(runtime, limited),
        "anonymous": {},
    }
    real_ids = {"framework_id": [framework_id], "document_id": list(ids.values())}
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


def _without_range(case):
    """The download's 416 leaves the blob's file open (documents/downloads.py opens it for
    send_file, then make_conditional refuses the range and nothing closes it): a leaked file
    handle per request, and a ResourceWarning here. Until that is fixed (see the xfail test
    below) the generated cases send no Range header."""
    if case.headers:
        case.headers.pop("Range", None)
    return case


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
    for label, strategy in strategies.items():
        yield label, strategy.map(_without_range)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[" ".join(o) for o in OPERATIONS])
def test_operation_matches_its_description(app, runtime, seeded, method: str, path: str) -> None:
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)[path][method]
    # the callers who cannot delete go first, so they meet the documents still there
    for caller in ("anonymous", "limited staff", "admin"):
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


@pytest.mark.xfail(
    strict=True, reason="documents/downloads.py: a 416 leaves the blob's file open (reported)"
)
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
        del response
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert not leaked
