"""Coverage figures on the fixture framework with a generated evidence set of known holes."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest

from evidence_app.coverage.operations import compute_coverage
from tests.conftest import load_module

es = load_module(Path(__file__).with_name("_evidence_set.py"))


@pytest.fixture
def framework_id(make_framework) -> int:
    return make_framework()["framework_id"]


@pytest.fixture
def evidence(runtime, framework_id):
    with runtime.session() as s:
        return es.build_evidence_set(s, runtime, framework_id)


def test_empty_framework_has_nothing_covered(session, framework_id) -> None:
    cov = compute_coverage(session, framework_id)
    assert cov.summary() == {
        "indicators": 53,
        "indicators_complete": 0,
        "indicators_partial": 0,
        "indicators_none": 51,
        "indicators_not_applicable": 2,
        "indicators_approved": 0,
        "entries": 229,
        "entries_filled": 0,
        "entries_pending": 0,
        "entries_unusable": 0,
        "entries_missing": 229,
        "entries_approved": 0,
        "documents": 0,
        "documents_usable": 0,
        "points_total": 100.0,
        "points_covered": 0.0,
        "self_score_total": 92.7,
        "self_score_supported": 0.0,
    }
    na = [(i.code, i.variant) for i in cov.leaves if i.state == "not_applicable"]
    assert na == [("4.1.1", 1), ("4.3.1", 1)]


def test_coverage_of_the_evidence_set(session, framework_id, evidence) -> None:
    cov = compute_coverage(session, framework_id)
    assert cov.summary() == {
        "indicators": 53,
        "indicators_complete": 43,
        "indicators_partial": 4,
        "indicators_none": 4,
        "indicators_not_applicable": 2,
        "indicators_approved": 1,
        "entries": 229,
        "entries_filled": 217,
        "entries_pending": 1,
        "entries_unusable": 3,
        "entries_missing": 8,
        "entries_approved": 12,
        "documents": 223,
        "documents_usable": 219,
        "points_total": 100.0,
        "points_covered": 77.5,
        "self_score_total": 92.7,
        "self_score_supported": 86.7,
    }
    states = {(i.code, i.variant): i.state for i in cov.leaves if i.state != "complete"}
    assert states == {
        ("1.2.1", 0): "none",
        ("1.2.2", 0): "partial",
        ("1.2.3", 0): "none",
        ("2.3.4", 0): "partial",
        ("2.5.3", 0): "none",
        ("2.5.4", 0): "partial",
        ("3.4.3", 0): "partial",
        ("4.1.1", 1): "not_applicable",
        ("4.3.1", 0): "none",
        ("4.3.1", 1): "not_applicable",
    }
    entry_states = {e.code: e.state for e in cov.entries if e.state != "filled"}
    assert entry_states == {
        "1.2.1-1": "missing",
        "1.2.1-2": "missing",
        "1.2.2-3": "unusable",
        "1.2.2-4": "missing",
        "1.2.2-5": "missing",
        "1.2.3-1": "unusable",
        "2.3.4-2": "missing",
        "2.3.4.4": "missing",
        "2.5.3-1": "pending",
        "2.5.4-1": "unusable",
        "3.4.3-1": "missing",
        "3.4.3-2": "missing",
    }
    leaf = {(i.code, i.variant): i.as_json() for i in cov.leaves}
    assert {k: leaf[("1.2.2", 0)][k] for k in ("entries", "entries_filled", "documents")} == {
        "entries": 5,
        "entries_filled": 2,
        "documents": 3,
    }
    # an indicator with no catalog and a document of its own is complete
    assert leaf[("4.2.2", 0)]["state"] == "complete"
    assert leaf[("4.2.2", 0)]["documents"] == 1
    # a document on the indicator itself, none on its entries: partial
    assert leaf[("3.4.3", 0)]["documents_usable"] == 1
    assert leaf[("1.1.1", 0)]["approved"] is True
    assert leaf[("1.1.1", 0)]["entries_approved"] == 11
    assert leaf[("1.3.1", 0)]["approved"] is False
    assert leaf[("1.3.1", 0)]["entries_approved"] == 1

    level1 = {i.code: i.as_json() for i in cov.level(1)}
    assert {c: (v["indicators_complete"], v["points_covered"]) for c, v in level1.items()} == {
        "1": (3, 7.0),
        "2": (27, 40.5),
        "3": (10, 23.0),
        "4": (3, 7.0),
    }
    level2 = {i.code: i.as_json() for i in cov.level(2)}
    assert level2["1.2"]["entries"] == 8
    assert level2["1.2"]["entries_filled"] == 2
    assert level2["1.2"]["self_score_supported"] == 5.0
    assert level2["4.3"]["indicators_not_applicable"] == 1


def test_departments(session, framework_id, evidence) -> None:
    from storage import CatalogEntry, Indicator

    for i in session.query(Indicator).filter_by(framework_id=framework_id, level=3):
        i.department = "教务处" if i.code.startswith("1.") else ""
    e = session.query(CatalogEntry).filter_by(framework_id=framework_id, code="1.2.2-5").one()
    e.department = "招生办"
    session.flush()
    rows = {r["department"]: r for r in compute_coverage(session, framework_id).by_department()}
    assert set(rows) == {"教务处", "招生办", ""}
    assert {k: rows["教务处"][k] for k in ("indicators", "entries", "entries_filled")} == {
        "indicators": 6,
        "entries": 34,
        "entries_filled": 29,
    }
    assert rows["招生办"]["entries"] == 1
    assert rows["招生办"]["entries_missing"] == 1
    assert rows[""]["indicators"] == 45
    # overdue as of a given day: 1.2.3-1 (due 2024-12-31) is overdue today, not on 2024-06-01
    cov = compute_coverage(session, framework_id)
    as_of = {r["department"]: r["entries_overdue"] for r in cov.by_department(date(2024, 6, 1))}
    now = {r["department"]: r["entries_overdue"] for r in cov.by_department()}
    assert now["教务处"] == as_of["教务处"] + 1


def test_coverage_is_fast_and_uses_few_queries(session, framework_id, evidence) -> None:
    from sqlalchemy import event

    statements: list[str] = []
    engine = session.get_bind()

    def count(*args) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        cov = compute_coverage(session, framework_id)
        json.dumps(cov.as_json(), ensure_ascii=False)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 5
    assert elapsed < 0.3


def test_unknown_framework(session) -> None:
    with pytest.raises(LookupError):
        compute_coverage(session, 999)
