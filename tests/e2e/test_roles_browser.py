"""Each role's main pages in Chromium: what to do next, accessibility, and layout.

For admin, staff (材料员), reviewer (评审) and auditor (督导): the home page shows the role's
下一步; every main page passes axe-core (vendored) with no serious or critical violation,
at 1366 px and at 390 px wide; at 390 px nothing scrolls sideways and no button, header,
label or badge wraps one character per line. Screenshots go to test-artifacts/e2e/roles-*.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e._browser import PASSWORD, evidence, login, shot
from tests.factories import multi_page_pdf

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = (1366, 390)

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""

# an element whose text is at least two characters but whose box is narrower than two
# characters wraps one character per line (上/传); the page must not scroll sideways
LAYOUT = """() => {
  const squeezed = [];
  const selector = 'button, a.button, th, .badge, label, summary, h1, h2, h3, nav a, .stat-label';
  for (const el of document.querySelectorAll(selector)) {
    const text = el.innerText.trim();
    if (text.length < 2 || el.offsetParent === null) continue;
    const style = getComputedStyle(el);
    const inner = el.getBoundingClientRect().width
      - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (inner < 1.8 * parseFloat(style.fontSize)) squeezed.push(text.slice(0, 20));
  }
  return {squeezed: [...new Set(squeezed)],
          overflow: document.documentElement.scrollWidth - window.innerWidth};
}"""


@pytest.fixture(scope="module")
def library(server, tmp_path_factory, framework_fixtures):
    """The fixture framework, a few evidence files (one unreadable, one without a code), and
    a reviewer, an auditor and a staff member limited to 2.3."""
    env = server["env"]
    evidence(env, "framework", "import", str(framework_fixtures / "A类规划自评打分表.xlsx"))
    folder = tmp_path_factory.mktemp("roles-evidence")
    (folder / "2.3.4-1 订单班学生名单.txt").write_text("迅达电梯订单班学生名单 共三十人")
    (folder / "2.3.5-1 现代学徒制试点报告.pdf").write_bytes(
        multi_page_pdf(["现代学徒制试点总体情况", "与企业共同制定人才培养方案"])
    )
    (folder / "1.2.1-1 招生简章.pdf").write_bytes(b"%PDF-1.4 truncated")
    (folder / "学校章程.txt").write_text("学校章程 第一章 总则")
    evidence(env, "ingest", "--user", "staff1", str(folder))
    for name, role in (("reviewer1", "reviewer"), ("auditor1", "auditor")):
        evidence(env, "user", "add", name, "--role", role, "--password-stdin", input=PASSWORD)
    return server


PAGES = {
    "admin": [
        "/",
        "/frameworks/1",
        "/search?q=订单班",
        "/coverage",
        "/upload",
        "/queue",
        "/admin/audit",
        "/admin/users",
        "/tasks",
        "/documents/1",
        "/documents/1/view?page=1&q=订单班",
        "/suggestions/",
        "/admin/settings",
        "/admin/experts",
    ],
    "staff1": ["/", "/tasks", "/coverage", "/upload", "{indicator}", "/requests"],
    "reviewer1": ["/", "/coverage", "/search?q=学徒制"],
    "auditor1": ["/", "/coverage", "/admin/audit"],
}
NEXT = {  # what each role's 下一步 must offer
    "admin": ['data-group="tasks"', 'data-group="gaps"'],
    "staff1": ['data-group="tasks"', 'data-group="problems"', 'data-group="unlinked"'],
    "reviewer1": ['data-group="review"'],
    "auditor1": ['data-group="gaps"'],
}


@pytest.mark.parametrize("user", list(PAGES))
def test_role_pages_accessible_and_hold_at_390(library, browser, user: str) -> None:
    base = library["base"]
    problems: dict[str, object] = {}
    for width in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, locale="zh-CN", bypass_csp=True
        )
        page = context.new_page()
        login(page, base, user)
        home = page.content()
        for marker in NEXT[user]:
            assert marker in home, (user, marker)
        page.goto(base + "/frameworks/1")
        indicator = page.get_attribute(".tree .leaf a", "href")
        for path in PAGES[user]:
            path = path.format(indicator=indicator)
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (user, path)
            slug = re.sub(r"[^a-z0-9]+", "_", path.split("?")[0]).strip("_") or "home"
            shot(page, f"roles-{user}-{width}-{slug}")
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(RUN_AXE)
            if violations:
                problems[f"{width} {path} axe"] = violations
            if width == 390:
                layout = page.evaluate(LAYOUT)
                if layout["squeezed"] or layout["overflow"] > 1:
                    problems[f"{width} {path} layout"] = layout
        context.close()
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


def test_staff_reach_missing_entries_in_one_click(library, browser) -> None:
    base = library["base"]
    context = browser.new_context(viewport={"width": 390, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, base, "staff1")
    page.click("[data-group=tasks] h3 a")
    page.wait_for_url(base + "/tasks")
    codes = page.eval_on_selector_all("tr[data-code]", "rows => rows.map(r => r.dataset.code)")
    assert "2.3.4-2" in codes and "2.3.4-1" not in codes  # 2.3.4-1 was uploaded
    shot(page, "roles-staff1-390-tasks-after-click")
    context.close()
