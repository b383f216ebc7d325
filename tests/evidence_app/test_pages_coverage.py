"""覆盖情况 and 我的任务 pages: roles, the figures of the generated evidence set, filters,
findings, the XLSX and ZIP downloads, render time, task order."""

from __future__ import annotations

import html
import io
import re
import time
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from storage import AuditLog, CatalogEntry, Framework, Indicator, User
from tests.conftest import load_module

ROLES = ("admin", "staff", "reviewer", "auditor")
COVERAGE = set(ROLES)  # staff read the coverage of their scope
EXPORTS = {"admin", "auditor", "reviewer"}
TASKS = {"admin", "staff"}
ROUTES: dict[tuple[str, str], set[str]] = {
    ("GET", "/coverage"): COVERAGE,
    ("GET", "/coverage?framework={fw}"): COVERAGE,
    ("GET", "/coverage/export.xlsx?framework={fw}"): EXPORTS,
    ("GET", "/coverage/package.zip?framework={fw}"): EXPORTS,
    ("GET", "/tasks"): TASKS,
}


es = load_module(Path(__file__).with_name("_evidence_set.py"))
AS_OF = es.TODAY.isoformat()


@pytest.fixture
def framework_id(make_framework) -> int:
    return make_framework()["framework_id"]


@pytest.fixture
def users(make_user):
    return {role: make_user(role) for role in ROLES}


@pytest.fixture
def evidence(runtime, framework_id):
    with runtime.session() as s:
        return es.build_evidence_set(s, runtime, framework_id)


def _indicator_id(runtime, framework_id: int, code: str, variant: int = 0) -> int:
    with runtime.session() as s:
        return s.scalar(
            select(Indicator.id).where(
                Indicator.framework_id == framework_id,
                Indicator.code == code,
                Indicator.variant == variant,
            )
        )


def _figures(page: str, start: str, end: str) -> dict[str, str]:
    part = page[page.index(start) : page.index(end)]
    return dict(re.findall(r'data-figure="(\w+)">([^<]*)<', part))


def _rows(page: str) -> list[str]:
    """The indicator table's codes, in order."""
    table = page[page.index('class="table coverage-table"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr class="[^"]*" data-code="([^"]+)"', table)


def _overdue_rows(page: str) -> list[str]:
    table = page[page.index('class="table coverage-table"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr class="[^"]*\boverdue" data-code="([^"]+)"', table)


# -- roles ----------------------------------------------------------------------------------


def test_every_coverage_route_is_in_the_matrix(app) -> None:
    ours = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/coverage", "/tasks"))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert ours == {(m, p.split("?")[0]) for m, p in ROUTES}


@pytest.mark.parametrize("role", ROLES)
def test_roles(app, runtime, framework_id, users, login, role: str) -> None:
    client = login(users[role])
    for (method, template), allowed in ROUTES.items():
        response = client.open(template.format(fw=framework_id), method=method)
        body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
        response.close()
        if role in allowed:
            assert response.status_code == 200, (template, response.status_code)
            # the CSP allows no inline styles or scripts
            assert 'style="' not in body and "<script>" not in body and "onclick" not in body
        else:
            assert response.status_code == 403, (template, response.status_code)
            assert "您没有权限" in body
    nav = client.get("/").get_data(as_text=True)
    assert ('href="/coverage"' in nav) == (role in COVERAGE)
    assert ('href="/tasks"' in nav) == (role in TASKS)


def test_unknown_framework_is_404(framework_id, users, login) -> None:
    client = login(users["auditor"])
    assert client.get("/coverage?framework=9999").status_code == 404
    assert client.get("/coverage?framework=abc").status_code == 404


def test_no_framework_yet(users, login) -> None:
    page = login(users["admin"]).get("/coverage").get_data(as_text=True)
    assert "还没有指标体系" in page


# -- the figures of the evidence set -------------------------------------------------------------

SUMMARY = {
    "entries_filled": "217",
    "entries": "229",
    "entries_pending": "1",
    "entries_unusable": "3",
    "entries_missing": "8",
    "entries_approved": "12",
    "indicators_approved": "1",
    "indicators": "53",
    "indicators_complete": "43",
    "indicators_partial": "4",
    "indicators_none": "4",
    "indicators_not_applicable": "2",
    "points_covered": "77.5",
    "points_total": "100",
    "self_score_supported": "86.7",
    "self_score_total": "92.7",
    "documents_usable": "219",
    "documents": "223",
    "findings": "47",
}
LEVELS = {
    **{"1": "29/35", "2": "151/155", "3": "31/33", "4": "6/6"},
    **{"1.1": "11/11", "1.2": "2/8", "1.3": "2/2", "1.4": "14/14"},
    **{"2.1": "35/35", "2.2": "33/33", "2.3": "38/40", "2.4": "17/17", "2.5": "14/16"},
    **{"2.6": "4/4", "2.7": "10/10", "3.1": "5/5", "3.2": "9/9", "3.3": "2/2", "3.4": "15/17"},
    **{"4.1": "4/4", "4.2": "2/2", "4.3": "0/0"},
}
FINDING_GROUPS = {  # the gaps first, then the rest most severe first
    "score_without_evidence": 2,
    "overdue_entry": 3,
    "missing_entry": 11,
    "indicator_without_evidence": 1,
    "unreadable_document": 3,
    "duplicate_document": 2,
    "unmatched_document": 2,
    "duplicate_entry_code": 3,
    "misnumbered_entry": 19,
    "ocr_only": 1,
}


def test_coverage_page_shows_the_evidence_set(
    runtime, framework_id, evidence, users, login
) -> None:
    client = login(users["auditor"])
    response = client.get(f"/coverage?framework={framework_id}&as_of={AS_OF}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _figures(page, 'id="summary-h"', 'id="levels-h"') == SUMMARY
    assert "截至 2024-06-01" in page

    # level-1 and level-2 bars: entries filled of total
    levels = dict(
        re.findall(
            r'data-code="([\d.]+)">.*?data-figure="entries">(\d+/\d+)<',
            page[page.index('id="levels-h"') : page.index('id="departments-h"')],
            re.S,
        )
    )
    assert levels == LEVELS
    assert page.count('<progress value="2" max="8"') == 1

    # every leaf, in table order; the overdue ones highlighted (as of 2024-06-01)
    rows = _rows(page)
    assert len(rows) == 53 and rows[:3] == ["1.1.1", "1.2.1", "1.2.2"]
    assert _overdue_rows(page) == ["1.2.2", "2.3.4", "4.3.1"]

    # the findings, grouped by kind (most severe first), each with its link
    findings = page[page.index('id="findings"') :]
    groups = re.findall(
        r'<details id="finding-\w+" class="finding-group severity-(\w+)[^"]*" data-kind="(\w+)"',
        findings,
    )
    assert [k for _, k in groups] == list(FINDING_GROUPS)
    assert Counter(re.findall(r'<li data-kind="(\w+)"', findings)) == FINDING_GROUPS
    assert groups[0] == ("high", "score_without_evidence")
    # the gaps come right after the figures, not below every table (#18 item 4)
    assert page.index('id="findings"') < page.index('id="levels-h"')
    assert '<a href="#finding-missing_entry">缺失' in page
    assert re.search(r'data-kind="missing_entry" open>', findings)
    assert 'class="finding-group severity-high overdue" data-kind="overdue_entry"' in findings
    leaf_234 = _indicator_id(runtime, framework_id, "2.3.4")
    assert f'href="/indicators/{leaf_234}">去处理' in findings
    assert "截止日期 2024-05-01 已过（逾期 31 天），仍缺 2 条：2.3.4-2、2.3.4.4" in html.unescape(
        findings
    )
    assert f'href="/documents/{evidence["unmatched-code"]}">去处理' in findings

    # departments: nobody named yet
    departments = page[page.index('id="departments"') : page.index('id="indicators"')]
    assert "（未指定）" in departments and "217/229" in departments


def test_filters(runtime, framework_id, evidence, users, login) -> None:
    client = login(users["reviewer"])
    base = f"/coverage?framework={framework_id}&as_of={AS_OF}"

    def codes(query: str) -> list[str]:
        response = client.get(base + query)
        assert response.status_code == 200
        return _rows(response.get_data(as_text=True))

    assert codes("&state=none") == ["1.2.1", "1.2.3", "2.5.3", "4.3.1"]
    assert codes("&state=not_applicable") == ["4.1.1", "4.3.1"]
    level2 = _indicator_id(runtime, framework_id, "2")
    assert codes(f"&state=partial&l1={level2}") == ["2.3.4", "2.5.4"]
    assert codes("&overdue=1") == ["1.2.2", "2.3.4", "4.3.1"]
    assert codes("&q=订单") == ["2.3.4", "2.3.6"]  # 2.3.6 by its entry 2.3.6-2 …“订单班”…
    assert codes("&q=订单学生") == ["2.3.4"]
    assert codes("&q=2.3.4") == ["2.3.4"]
    assert codes("&q=不会出现的词") == []
    assert "没有符合筛选条件的指标" in client.get(base + "&q=不会出现的词").get_data(as_text=True)

    with runtime.session() as s:
        for i in s.scalars(select(Indicator).where(Indicator.framework_id == framework_id)):
            if i.level == 3 and i.code.startswith("1.2."):
                i.department = "招生办"
        e = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "2.3.4-2")).one()
        e.department = "招生办"
        s.commit()
    assert codes("&dept=招生办") == ["1.2.1", "1.2.2", "1.2.3", "2.3.4"]
    assert len(codes("&dept=-")) == 53 - 3
    page = client.get(base).get_data(as_text=True)
    departments = page[page.index('id="departments"') : page.index('id="indicators"')]
    assert 'data-department="招生办"' in departments
    # 1.2.1 (2), 1.2.2 (5), 1.2.3 (1) and 2.3.4-2: 2 filled of 9, 7 missing; overdue as of
    # 2024-06-01: 1.2.2-4 (due 2024-01-10) and 2.3.4-2 (its indicator's 2024-05-01), not
    # 1.2.3-1 (due 2024-12-31)
    row = departments[departments.index('data-department="招生办"') :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'class="figure">(\d+/\d+)<', row) == ["2/9"]
    assert re.findall(r'<td class="num">(.*?)</td>', row) == [
        "7",
        '<span class="badge overdue">2</span>',
        "0/3",
    ]


def test_findings_follow_the_data(runtime, framework_id, evidence, users, login) -> None:
    """The findings are kept between views, but never shown stale."""
    client = login(users["auditor"])
    url = f"/coverage?framework={framework_id}&as_of={AS_OF}"

    def count() -> str:
        page = client.get(url).get_data(as_text=True)
        return _figures(page, 'id="summary-h"', 'id="levels-h"')["findings"]

    assert count() == "47"
    assert count() == "47"
    with runtime.session() as s:  # written without an audit entry
        es.text_document(s, runtime, framework_id, "无编号.txt", es.random_text("x"), code="")
        s.commit()
    assert count() == "48"
    with runtime.session() as s:  # a due date moved: one overdue finding fewer
        i = s.get(Indicator, _indicator_id(runtime, framework_id, "4.3.1"))
        i.due_date = date(2024, 12, 1)
        s.commit()
    assert count() == "47"
    # another day, other overdue figures
    page = client.get(f"/coverage?framework={framework_id}&as_of=2025-01-01").get_data(as_text=True)
    assert _overdue_rows(page) == ["1.2.2", "1.2.3", "2.3.4", "4.3.1"]


def test_bad_as_of_date_falls_back_to_today(framework_id, users, login) -> None:
    page = login(users["admin"]).get(f"/coverage?framework={framework_id}&as_of=2024-13-01")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "日期格式不对：2024-13-01" in text
    assert f"截至 {date.today().isoformat()}" in text


# -- downloads --------------------------------------------------------------------------------


def _sheets(data: bytes | io.BytesIO) -> dict[str, list[tuple]]:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data, read_only=True)
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb}
    finally:
        wb.close()


def test_xlsx_download_is_the_cli_workbook(runtime, framework_id, evidence, users, login) -> None:
    from evidence_app.coverage.export import write_coverage_xlsx

    response = login(users["auditor"]).get(
        f"/coverage/export.xlsx?framework={framework_id}&as_of={AS_OF}"
    )
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert ".xlsx" in response.headers["Content-Disposition"]
    data = response.get_data()
    response.close()
    sheets = _sheets(data)
    assert list(sheets) == ["汇总", "指标", "佐证条目", "问题清单"]
    summary = dict(sheets["汇总"][1:])
    assert summary["已提供条目"] == 217 and summary["缺失条目"] == 8
    assert summary["审核通过的条目"] == 12 and summary["问题总数"] == 47
    assert len(sheets["指标"]) == 1 + 53 and len(sheets["佐证条目"]) == 1 + 229
    assert len(sheets["问题清单"]) == 1 + 47

    expected = io.BytesIO()
    with runtime.session() as s:
        write_coverage_xlsx(s, framework_id, expected, today=es.TODAY, base_url="http://localhost/")
    expected.seek(0)
    assert sheets == _sheets(expected)

    with runtime.session() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "coverage.export")).one()
        assert entry.username == "auditor"
        assert entry.detail["format"] == "xlsx" and entry.object_id == framework_id


def test_package_download(app, runtime, framework_id, evidence, users, login) -> None:
    from evidence_app.coverage.export import (
        CATALOG_NAME,
        MANIFEST_NAME,
        package_paths,
        plan_package,
    )

    with runtime.session() as s:
        plan = plan_package(s, framework_id)
    tmp_dir = Path(runtime.config.EVIDENCE_HOME) / "tmp"
    response = login(users["reviewer"]).get(f"/coverage/package.zip?framework={framework_id}")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    data = response.get_data()
    assert len(list(tmp_dir.glob("package-*.zip"))) == 1  # streamed from a temporary file
    response.close()
    assert list(tmp_dir.glob("package-*.zip")) == []  # deleted once sent
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names == list(package_paths(plan))
        assert {f"{CATALOG_NAME}.xlsx", f"{CATALOG_NAME}.docx", MANIFEST_NAME} <= set(names)
        manifest = zf.read(MANIFEST_NAME).decode("utf-8").splitlines()
        assert len(manifest) == len(plan.files) + 2
        assert zf.testzip() is None
    assert len(plan.files) == 219 + 4  # every linked, not deleted file (unreadable ones too)
    with runtime.session() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "framework.export")).one()
        assert entry.username == "reviewer" and entry.detail["files"] == len(plan.files)


def test_package_with_a_damaged_blob(runtime, framework_id, users, login, tmp_path) -> None:
    with runtime.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "2.3.4-1")).one()
        doc = es.text_document(s, runtime, framework_id, "2.3.4-1 a.txt", "原件", entry=entry)
        sha = doc.current.blob_sha256
        s.commit()
    runtime.blobs.path_for(sha).write_bytes(b"changed")
    client = login(users["admin"])
    response = client.get(f"/coverage/package.zip?framework={framework_id}")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "导出失败" in page and "SHA-256 不符" in page
    assert list((Path(runtime.config.EVIDENCE_HOME) / "tmp").glob("package-*.zip")) == []


# -- render time ------------------------------------------------------------------------------


def _bulk_documents(runtime, framework_id: int, n: int) -> None:
    """n documents of 1,500 characters, like bench/coverage.py: most on entries."""
    import random

    from sqlalchemy import insert

    from storage import Blob, Document, DocumentLink, DocumentPage, DocumentVersion

    rng = random.Random(7)
    with runtime.session() as s:
        entries = s.execute(
            select(CatalogEntry.id, CatalogEntry.code).where(
                CatalogEntry.framework_id == framework_id
            )
        ).all()
        leaves = s.execute(
            select(Indicator.id, Indicator.code).where(
                Indicator.framework_id == framework_id, Indicator.level == 3
            )
        ).all()
        start = (s.scalar(select(Document.id).order_by(Document.id.desc()).limit(1)) or 0) + 1
        rows: dict[str, list[dict]] = {k: [] for k in ("blob", "doc", "ver", "link", "page")}
        statuses = ["indexed"] * 90 + ["pending"] * 4 + ["failed"] * 3 + ["empty"] * 3
        for doc_id in range(start, start + n):
            sha = f"{doc_id:064x}"
            rows["blob"].append({"sha256": sha, "size": 3000})
            roll = rng.random()
            if roll < 0.9:
                target = rng.choice(entries)
                rows["link"].append(
                    {"document_id": doc_id, "entry_id": target.id, "code": target.code}
                )
            elif roll < 0.97:
                target = rng.choice(leaves)
                rows["link"].append(
                    {"document_id": doc_id, "indicator_id": target.id, "code": target.code}
                )
            else:
                target = None
            code = target.code if target else "9.9.9-1"
            rows["doc"].append(
                {
                    "id": doc_id,
                    "framework_id": framework_id,
                    "title": f"材料 {doc_id}",
                    "code": code,
                    "file_type": "pdf",
                    "status": rng.choice(statuses),
                    "review_status": rng.choice(["pending", "approved", "needs_more"]),
                    "page_count": 2,
                }
            )
            rows["ver"].append(
                {
                    "document_id": doc_id,
                    "number": 1,
                    "blob_sha256": sha,
                    "original_name": f"{code} 材料 {doc_id}.pdf",
                    "size": 3000,
                }
            )
            body = es.random_text(f"bulk{doc_id}", 1500)
            rows["page"].append({"document_id": doc_id, "number": 1, "text": body[:750]})
            rows["page"].append({"document_id": doc_id, "number": 2, "text": body[750:]})
        for model, key in (
            (Blob, "blob"),
            (Document, "doc"),
            (DocumentVersion, "ver"),
            (DocumentLink, "link"),
            (DocumentPage, "page"),
        ):
            s.execute(insert(model), rows[key])
        s.commit()


def test_coverage_page_renders_fast_with_2000_documents(
    runtime, framework_id, users, login, database_url
) -> None:
    _bulk_documents(runtime, framework_id, 2000)
    client = login(users["auditor"])
    url = f"/coverage?framework={framework_id}"
    timings = []
    for _ in range(6):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    page = response.get_data(as_text=True)
    figures = _figures(page, 'id="summary-h"', 'id="levels-h"')
    assert figures["entries"] == "229" and int(figures["documents"]) > 1900
    cold, warm = timings[0], sorted(timings[1:])[len(timings[1:]) // 2]
    print(
        f"\ncoverage page, 229 entries x 2,000 documents ({database_url.split(':')[0]}): "
        f"first view {cold * 1000:.0f} ms (findings computed), "
        f"later views {warm * 1000:.0f} ms (median)"
    )
    assert cold < 5.0, cold
    assert warm < 2.0, warm


# -- my tasks ---------------------------------------------------------------------------------


def test_my_tasks_nearest_due_first(runtime, framework_id, users, make_user, login) -> None:
    from evidence_app.coverage.assignments import set_responsibility

    other = make_user("staff", "李四")
    today = date.today()
    with runtime.session() as s:
        staff = s.get(User, users["staff"].id)

        def indicator(code: str) -> Indicator:
            return s.scalars(
                select(Indicator).where(
                    Indicator.framework_id == framework_id,
                    Indicator.code == code,
                    Indicator.variant == 0,
                )
            ).one()

        def entry(code: str) -> CatalogEntry:
            return s.scalars(select(CatalogEntry).where(CatalogEntry.code == code)).one()

        set_responsibility(s, indicator("2.3.4"), None, owner_user=staff, due_date="2024-05-01")
        set_responsibility(s, entry("2.3.4-3"), None, owner_user=s.get(User, other.id))
        set_responsibility(s, entry("1.2.1-1"), None, owner_user=staff, due_date=today)
        set_responsibility(s, entry("1.2.1-2"), None, owner="staff", due_date="2099-01-01")
        set_responsibility(s, indicator("4.2.2"), None, owner_user=staff)
        entry_ids = {e.code: e.id for e in s.scalars(select(CatalogEntry))}
        leaf_422 = indicator("4.2.2").id
        s.commit()

    response = login(users["staff"]).get("/tasks")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    codes = re.findall(r'<tr class="[^"]*" data-code="([^"]+)"', page)
    assert codes == ["2.3.4-1", "2.3.4-2", "2.3.4.4", "2.3.4-5", "1.2.1-1", "1.2.1-2", "4.2.2"]
    overdue = re.findall(r'<tr class="overdue" data-code="([^"]+)"', page)
    assert overdue == ["2.3.4-1", "2.3.4-2", "2.3.4.4", "2.3.4-5"]
    days = (today - date(2024, 5, 1)).days
    assert page.count(f"逾期 {days} 天") == 4
    assert "今天截止" in page
    assert '<strong data-figure="tasks">7</strong>' in page
    assert '<strong class="overdue-text" data-figure="overdue">4</strong>' in page
    for code in ("2.3.4-1", "1.2.1-1", "1.2.1-2"):
        assert f'href="/upload?entry_id={entry_ids[code]}"' in page
    assert f'href="/upload?indicator_id={leaf_422}"' in page

    theirs = login(other).get("/tasks").get_data(as_text=True)
    assert re.findall(r'data-code="([^"]+)"', theirs) == ["2.3.4-3"]
    # responsible for nothing: every missing entry, and a note saying why
    unassigned = login(users["admin"]).get("/tasks").get_data(as_text=True)
    assert "尚未给您分配指标或条目" in unassigned
    assert len(re.findall(r'data-code="([^"]+)"', unassigned)) > len(codes)
    assert "目前没有待补充的佐证材料" not in unassigned


def test_a_filled_entry_leaves_the_task_list(runtime, framework_id, users, login) -> None:
    from evidence_app.coverage.assignments import set_responsibility

    with runtime.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "1.2.1-1")).one()
        set_responsibility(s, entry, None, owner_user=users["staff"].id)
        s.commit()
    client = login(users["staff"])
    assert re.findall(r'data-code="([^"]+)"', client.get("/tasks").get_data(as_text=True)) == [
        "1.2.1-1"
    ]
    with runtime.session() as s:
        entry = s.scalars(select(CatalogEntry).where(CatalogEntry.code == "1.2.1-1")).one()
        es.text_document(s, runtime, framework_id, "1.2.1-1 报到表.txt", "名单", entry=entry)
        s.commit()
    assert "目前没有待补充的佐证材料" in client.get("/tasks").get_data(as_text=True)


def test_framework_page_links_to_coverage(framework_id, users, login, runtime) -> None:
    page = login(users["auditor"]).get(f"/frameworks/{framework_id}").get_data(as_text=True)
    assert f'href="/coverage?framework={framework_id}"' in page
    with runtime.session() as s:
        assert s.get(Framework, framework_id) is not None
