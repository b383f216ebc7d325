"""Fixtures for the indexer tests: one search suite runs against every backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config import settings_for_tests
from indexer import IndexDoc, Page, SearchBackend, open_index

#: Backends the search suite runs on; "postgres" is skipped (with the reason) when no test
#: database is configured (EVIDENCE_TEST_POSTGRES_URL).
BACKENDS = ["whoosh", "tantivy", "postgres"]
POSTGRES_URL = settings_for_tests()["postgres_url"]


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set EVIDENCE_TEST_POSTGRES_URL)")
    return request.param


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL whose search_path is a private schema, dropped after the test."""
    assert POSTGRES_URL
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # server down: skip with the reason
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {e.__class__.__name__}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def index_location(backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where this test's index lives, as ``open_index``'s second argument: a directory, or
    for postgres a database URL on a private schema (every process opening it shares it)."""
    if backend_kind == "postgres":
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / f"index-{backend_kind}")


@pytest.fixture
def open_backend(backend_kind: str, index_location: str) -> Iterator[Callable[[], SearchBackend]]:
    """Opens the backend under test on this test's index (again, to test reopening)."""
    opened: list[SearchBackend] = []

    def opener() -> SearchBackend:
        backend = open_index(backend_kind, index_location, lock_timeout=10.0)
        opened.append(backend)
        return backend

    yield opener
    for backend in opened:
        backend.close()


@pytest.fixture
def backend(open_backend: Callable[[], SearchBackend]) -> SearchBackend:
    """An empty index of each backend kind."""
    return open_backend()


def sample_docs() -> list[IndexDoc]:
    """Five evidence documents with the cases the search tests look for."""
    return [
        IndexDoc(
            doc_id=1,
            title="2.3.4-1 2020-2022级企业订单学明细表",
            pages=[
                Page(1, "迅达电梯订单班学生名单\n序号 姓名 班级"),
                Page(2, "本页说明校企合作情况。"),
                Page(3, "深化产教\n融合，推进现代学徒制试点。"),
            ],
            code="2.3.4-1",
            entry_codes=["2.3.4-1"],
            indicator_codes=["2", "2.3", "2.3.4"],
            framework_id=1,
            file_type="pdf",
            year=2022,
            status="indexed",
        ),
        IndexDoc(
            doc_id=2,
            title="2.3.4-2 校企合作协议",
            pages=[
                Page(
                    1,
                    "甲乙双方本着产教融合、校企合作的原则签订本协议，开展试点工作，探索现代学徒制。",
                ),
                Page(2, "<script>alert(1)</script> 协议附件：设备清单。"),
            ],
            code="2.3.4-2",
            entry_codes=["2.3.4-2"],
            indicator_codes=["2", "2.3", "2.3.4"],
            framework_id=1,
            file_type="docx",
            year=2022,
            status="reviewed",
        ),
        IndexDoc(
            doc_id=3,
            title="1.1.1-1 2022年专业设置与区域重点产业匹配度报告",
            pages=[
                Page(1, "本报告引用了佐证材料 2.3.4-1 和指标 2.3 的数据。"),
                Page(
                    2, "国民经济和社会发展第十四个五年规划和2035年远景目标纲要（粤府〔2021〕28号）"
                ),
            ],
            code="1.1.1-1",
            entry_codes=["1.1.1-1"],
            indicator_codes=["1", "1.1", "1.1.1"],
            framework_id=1,
            file_type="pdf",
            year=2022,
            status="indexed",
        ),
        IndexDoc(
            doc_id=4,
            title="设备采购清单",
            pages=[Page(1, "设备型号ＡＢＣ１２３已采购。1+X证书试点。BIM技术应用。")],
            code="3.1.1-1",
            entry_codes=["3.1.1-1"],
            indicator_codes=["3", "3.1", "3.1.1"],
            framework_id=2,
            file_type="xlsx",
            year=2023,
            status="indexed",
        ),
        IndexDoc(
            doc_id=5,
            title="2.3.6-7-2 双师型教师名单",
            pages=[Page(1, "双师型教师认定办法"), Page(2, "教师名单：张三、李四")],
            code="2.3.6-7-2",
            entry_codes=["2.3.6-7-2"],
            indicator_codes=["2", "2.3", "2.3.6"],
            framework_id=2,
            file_type="pdf",
            year=2023,
            status="indexed",
        ),
    ]


@pytest.fixture
def filled(backend: SearchBackend) -> SearchBackend:
    """The backend with ``sample_docs()`` indexed."""
    backend.add(sample_docs())
    return backend
