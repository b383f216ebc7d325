"""Browser test of upload feedback, in Debian's Chromium against `evidence serve` + `evidence
worker`: refusals are summarised above the accepted files, each accepted file's state goes
from 已接收 to 可检索 without a reload, a ZIP inside the ZIP is unpacked, and the queue page
counts what is done and refreshes itself; then an admin archives, restores and deletes the
framework from the home page. Screenshots go to the test-artifacts folder."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.e2e._browser import evidence, login, shot
from tests.factories import multi_page_pdf

pytestmark = pytest.mark.browser

#: records every text a state cell or progress row shows, so that passing states are seen
RECORDER = """
window.seen = {cells: [], rows: []};
new MutationObserver(() => {
  document.querySelectorAll('td.doc-state').forEach(td => {
    if (!window.seen.cells.includes(td.textContent)) window.seen.cells.push(td.textContent);
  });
  document.querySelectorAll('#progress-list li span:last-child').forEach(s => {
    if (!window.seen.rows.includes(s.textContent)) window.seen.rows.push(s.textContent);
  });
}).observe(document.body, {subtree: true, childList: true, characterData: true});
window.notReloaded = true;
"""


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_upload_states_refusals_and_queue(server, browser, framework_fixtures, tmp_path) -> None:
    base, env = server["base"], server["env"]
    evidence(env, "framework", "import", str(framework_fixtures / "A类规划自评打分表.docx"))
    inner = tmp_path / "inner.zip"
    _zip(inner, {"2.3.4-2 订单班管理办法.txt": "订单班建设管理办法全文".encode()})
    bundle = _zip(
        tmp_path / "2.3 产教融合材料.zip",
        {
            "2.3.4 企业订单/2.3.4-1 订单学明细表.txt": "迅达电梯订单班学生名单".encode(),
            "2.3.4 企业订单/嵌套.zip": inner.read_bytes(),
            "2.3.5-1 现代学徒制试点报告.pdf": multi_page_pdf(["现代学徒制试点报告"]),
            **{  # linked by their folder's code; more rows than the page shows at first
                f"2.3.4 企业订单/班级名单/2.3.4 第{n:02d}班名单.txt": f"第{n}班 学生名单".encode()
                for n in range(1, 51)
            },
        },
    )
    traversal = _zip(tmp_path / "越界.zip", {"../../etc/2.3.4-3 越界.txt": b"x"})
    empty = tmp_path / "2.3.4-4 空白扫描件.pdf"
    empty.write_bytes(b"")

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    login(page, base, "staff1")
    page.goto(base + "/upload")
    page.evaluate(RECORDER)
    page.set_input_files("#file-input", [str(bundle), str(traversal), str(empty)])

    # refusals: counted and named at the top of the results, above the accepted files
    page.wait_for_selector("#refusals:not([hidden])", timeout=30000)
    page.wait_for_function(
        "() => document.getElementById('rejected-count').textContent === '2'", timeout=30000
    )
    refusals = page.inner_text("#refusals")
    assert "拒收 2 个文件" in refusals
    assert "越界.zip" in refusals and "试图写到压缩包目录之外" in refusals
    assert "2.3.4-4 空白扫描件.pdf" in refusals and "文件为空（0 字节）" in refusals
    top = page.eval_on_selector("#refusals", "e => e.getBoundingClientRect().top")
    accepted_top = page.eval_on_selector("#accepted-list", "e => e.getBoundingClientRect().top")
    assert top < accepted_top

    # the three files of the bundle (one from the ZIP inside it) become 可检索 in place
    page.wait_for_function(
        "() => document.querySelectorAll('#accepted-list tr').length === 53", timeout=30000
    )
    assert page.eval_on_selector_all("#accepted-list tr:not([hidden])", "r => r.length") == 50
    assert page.inner_text("#show-all-accepted") == "显示全部（共 53 个）"
    page.click("#show-all-accepted")
    assert page.eval_on_selector_all("#accepted-list tr:not([hidden])", "r => r.length") == 53
    accepted = page.inner_text("#accepted-list")
    assert "2.3.4-2 订单班管理办法.txt" in accepted and "嵌套.zip" not in accepted
    shot(page, "upload-status-01-refusals-on-top")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#accepted-list td.doc-state')]"
        ".every(td => td.textContent === '可检索')",
        timeout=60000,
    )
    assert page.evaluate("window.notReloaded") is True
    seen = page.evaluate("window.seen")
    assert "已接收" in seen["cells"] and "可检索" in seen["cells"]  # it changed while we watched
    assert "服务器正在解包和保存…" in seen["rows"]  # after 100 %, before the answer
    bundle_row = page.inner_text("#progress-list li:has-text('产教融合材料')")
    assert "已接收 53 个文件：可检索 53" in bundle_row
    assert page.inner_text("#progress-list li:has-text('空白扫描件')").endswith(
        "已拒收：文件为空（0 字节）"
    )
    assert "已接收 53 个 · 拒收 2 个 · 可检索 53" in page.inner_text("#upload-summary")
    shot(page, "upload-status-02-searchable")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "upload-status-02-searchable-390")
    page.set_viewport_size({"width": 1366, "height": 900})

    # the queue page counts and refreshes itself when more work arrives
    queue = context.new_page()
    queue.goto(base + "/queue")
    assert queue.inner_text("[data-count=done]") == "53"
    queue.evaluate("window.notReloaded = true")
    more = tmp_path / "2.3.4-5 订单班协议.txt"
    more.write_text("迅达电梯订单班校企合作协议", encoding="utf-8")
    page.set_input_files("#file-input", str(more))
    queue.wait_for_function(
        "() => document.querySelector('[data-count=done]').textContent === '54'", timeout=40000
    )
    assert queue.evaluate("window.notReloaded") is True
    assert queue.inner_text("[data-count=remaining]") == "0"
    shot(queue, "upload-status-03-queue")
    context.close()
    assert json.loads(evidence(env, "search", "订单班建设管理办法", "--json"))["total"] == 1


def test_admin_archives_restores_and_deletes_a_framework(server, browser) -> None:
    """Runs after the upload test above, on its framework and files."""
    base, env = server["base"], server["env"]
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the 归档 button asks first
    login(page, base, "admin")
    page.goto(base + "/search?q=" + "订单班学生名单")
    assert page.query_selector("article.hit")
    page.goto(base + "/")
    page.click("summary:has-text('管理指标体系')")
    page.click("li:has-text('自评打分表') button:has-text('归档')")
    page.wait_for_selector("text=已归档指标体系")
    assert page.query_selector("section.framework-card") is None
    assert "没有使用中的指标体系" in page.inner_text("section.empty-state")
    page.click("summary:has-text('管理指标体系')")
    archived = page.inner_text("details.framework-admin")
    assert "已归档" in archived and "恢复" in archived
    shot(page, "frameworks-01-archived")
    page.goto(base + "/search?q=" + "订单班学生名单")
    assert page.query_selector("article.hit") is None  # its files are out of search

    page.goto(base + "/")
    page.click("summary:has-text('管理指标体系')")
    page.click("button:has-text('恢复')")
    page.wait_for_selector("text=已恢复指标体系")
    assert page.query_selector("section.framework-card")

    page.click("summary:has-text('管理指标体系')")
    page.click("a:has-text('删除…')")
    page.wait_for_selector("text=删除后无法恢复")
    assert "上传到本指标体系的材料 54 份" in page.inner_text("main")
    shot(page, "frameworks-02-delete-confirmation")
    page.fill("input[name=confirm_name]", "别的名字")
    page.click("button:has-text('永久删除')")
    page.wait_for_selector("text=请输入完整的指标体系名称以确认删除")
    name = page.inner_text("h1").split("“", 1)[1].rsplit("”", 1)[0]
    page.fill("input[name=confirm_name]", name)
    page.click("button:has-text('永久删除')")
    page.wait_for_selector("text=及其 54 份材料")
    assert page.query_selector("section.framework-card") is None
    shot(page, "frameworks-03-deleted")
    context.close()
    assert json.loads(evidence(env, "search", "订单班", "--json"))["total"] == 0
