"""下一步 on the home page, per role, and the coverage page within a limited scope."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from storage import CatalogEntry, Document, Indicator
from tests.factories import add_document, limit_scope

SECRET = "外系机密材料"  # a file outside the limited user's scope: never named to them
SAME = b"the same bytes in two places, an exact duplicate"


def _entry(s, framework_id: int, code: str) -> CatalogEntry:
    return s.scalars(
        select(CatalogEntry).where(
            CatalogEntry.framework_id == framework_id, CatalogEntry.code == code
        )
    ).one()


def _group(page: str, name: str) -> str:
    start = page.index(f'data-group="{name}"')
    return page[start : page.index("</div>", start)]


@pytest.fixture
def world(runtime, make_framework, make_user):
    framework_id = make_framework()["framework_id"]
    users = {role: make_user(role) for role in ("admin", "reviewer", "auditor")}
    users["staff"] = make_user("staff")
    users["limited"] = make_user("staff", "limited")
    limit_scope(runtime, users["limited"], framework_id, ["2.3.4"])
    with runtime.unit_of_work() as s:
        inside = add_document(
            s,
            runtime,
            framework_id,
            "2.3.4-1 订单班名单.txt",
            SAME,
            entry=_entry(s, framework_id, "2.3.4-1"),
            pages=[("订单班名单", "text")],
        )
        add_document(
            s,
            runtime,
            framework_id,
            f"3.1.1-1 {SECRET}.txt",
            SAME,
            entry=_entry(s, framework_id, "3.1.1-1"),
            pages=[("订单班名单", "text")],
        )
        broken = add_document(
            s,
            runtime,
            framework_id,
            "2.3.4-3 扫描件.pdf",
            b"%PDF-1.4 broken",
            entry=_entry(s, framework_id, "2.3.4-3"),
            status="failed",
        )
        loose = add_document(s, runtime, framework_id, "学校章程.txt", b"charter", code="")
        for doc in (broken, loose):
            doc.uploaded_by_id = users["limited"].id
        ids = {"inside": inside.id, "broken": broken.id, "loose": loose.id}
    return {"fw": framework_id, "users": users, "docs": ids}


def test_limited_staff_see_their_missing_entries_and_files(world, login) -> None:
    client = login(world["users"]["limited"])
    home = client.get("/").get_data(as_text=True)
    tasks = _group(home, "tasks")
    # nobody was given work: every missing entry of the scope (2.3.4), none outside it
    codes = re.findall(r'<span class="code">([^<]+)</span>', tasks)
    assert codes and all(code.startswith("2.3.4") for code in codes)
    assert "2.3.4-1" not in codes  # filled
    assert "尚未给您分配指标" not in tasks  # they have an assignment: 2.3.4
    problems = _group(home, "problems")
    assert f"/documents/{world['docs']['broken']}" in problems and "解析失败" in problems
    assert f"/documents/{world['docs']['loose']}" in _group(home, "unlinked")
    assert SECRET not in home
    # one click away: the full list
    full = client.get("/tasks").get_data(as_text=True)
    assert set(re.findall(r'data-code="([^"]+)"', full)) >= set(codes)


def test_unassigned_staff_get_every_missing_entry(world, login) -> None:
    home = login(world["users"]["staff"]).get("/").get_data(as_text=True)
    tasks = _group(home, "tasks")
    assert "尚未给您分配指标" in tasks
    count = int(re.search(r'data-figure="next-tasks">(\d+)<', tasks).group(1))
    assert count > 200  # nearly the whole catalog of 229 entries is empty
    # files of other people are not their problem
    assert 'data-group="problems"' not in home


def test_limited_staff_read_coverage_of_their_scope_only(world, login) -> None:
    client = login(world["users"]["limited"])
    page = client.get(f"/coverage?framework={world['fw']}").get_data(as_text=True)
    rows = re.findall(r'<tr class="[^"]*" data-code="([^"]+)"', page)
    assert rows == ["2.3.4"]
    assert SECRET not in page and "3.1.1-1" not in page
    assert "下载佐证材料包" not in page
    assert client.get(f"/coverage/export.xlsx?framework={world['fw']}").status_code == 403
    # the whole framework for those who read everything, the duplicate named
    full = login(world["users"]["auditor"]).get(f"/coverage?framework={world['fw']}")
    assert "3.1.1-1" in full.get_data(as_text=True)


def test_reviewer_sees_indicators_waiting_for_review(world, login, runtime) -> None:
    home = login(world["users"]["reviewer"]).get("/").get_data(as_text=True)
    review = _group(home, "review")
    with runtime.session() as s:
        leaf = s.scalars(
            select(Indicator).where(
                Indicator.framework_id == world["fw"], Indicator.code == "2.3.4"
            )
        ).first()
        assert f"/indicators/{leaf.id}" in review
        s.get(Document, world["docs"]["inside"]).review_status = "approved"
        s.commit()
    home = login(world["users"]["reviewer"]).get("/").get_data(as_text=True)
    assert "2.3.4" not in re.sub(r"<[^>]+>", "", _group(home, "review"))


def test_auditor_gaps_match_the_coverage_page(world, login) -> None:
    client = login(world["users"]["auditor"])
    gaps = _group(client.get("/").get_data(as_text=True), "gaps")
    claimed = int(re.search(r'data-figure="next-claimed">(\d+)<', gaps).group(1))
    missing = int(re.search(r'data-figure="next-missing">(\d+)<', gaps).group(1))
    page = client.get(f"/coverage?framework={world['fw']}").get_data(as_text=True)
    group = page[page.index('id="finding-score_without_evidence"') :]
    group = group[: group.index('<details id="finding-', 1)]
    assert claimed == group.count('<li data-kind="score_without_evidence"')
    assert missing == int(re.search(r'data-figure="entries_missing">(\d+)<', page).group(1))
    assert "#finding-score_without_evidence" in gaps


def test_an_archived_framework_leaves_the_coverage_picker_and_says_so(
    world, login, runtime, make_framework, framework_fixtures
) -> None:
    from evidence_app.frameworks.operations import archive_framework
    from storage import Framework

    newer = make_framework(framework_fixtures / "A类规划自评打分表.xlsx", name="新一轮自评")[
        "framework_id"
    ]
    with runtime.unit_of_work() as s:
        archive_framework(s, s.get(Framework, world["fw"]), None)
    client = login(world["users"]["auditor"])
    picker = client.get("/coverage").get_data(as_text=True)
    assert f'<option value="{world["fw"]}"' not in picker and "新一轮自评" in picker
    # asked for by id it still opens, and its tree page says it is archived
    assert client.get(f"/coverage?framework={world['fw']}").status_code == 200
    tree = client.get(f"/frameworks/{world['fw']}").get_data(as_text=True)
    assert "该指标体系已于" in tree and "归档" in tree
    assert "该指标体系已于" not in client.get(f"/frameworks/{newer}").get_data(as_text=True)
