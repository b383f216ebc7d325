"""Browser test: Debian's Chromium driven by Playwright against `evidence serve` + `evidence worker`.

Logs in, imports the fixture framework, uploads a CP936 ZIP, waits for processing, searches
a Chinese phrase, opens the document at the hit's page, and checks that a staff user cannot
open user management. Screenshots of each step go to the test-artifacts folder.
"""

from __future__ import annotations

import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.e2e._browser import login, shot
from tests.factories import multi_page_pdf

pytestmark = pytest.mark.browser


def test_full_journey(server, browser, framework_fixtures: Path, tmp_path: Path) -> None:
    from evidence_app.demo import GbkZipInfo

    base = server["base"]
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = context.new_page()

    login(page, base, "admin")
    assert "指标体系" in page.content()
    shot(page, "01-logged-in")

    page.goto(base + "/frameworks/import")
    page.set_input_files("input[name=file]", str(framework_fixtures / "A类规划自评打分表.docx"))
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=已导入指标体系")
    assert "佐证条目 229 条" in page.content()
    shot(page, "02-framework-imported")

    archive = tmp_path / "佐证材料（Windows 打包）.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        info = GbkZipInfo("2.提质/2.3 产教融合/2.3.5 现代学徒制试点/2.3.5-1 现代学徒制试点报告.pdf")
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(
            info,
            multi_page_pdf(
                ["第一页 总体情况", "第二页 与迅达电梯合作开设迅达电梯订单班", "第三页 附件"]
            ),
        )
        info = GbkZipInfo("2.提质/2.3 产教融合/2.3.4 企业订单/2.3.4-1 订单学明细表.txt")
        z.writestr(info, "订单学生名单 三一零八人".encode())
    page.goto(base + "/upload")
    page.set_input_files("#file-input", str(archive))
    page.wait_for_selector("#accepted-list tr >> nth=1", timeout=30000)
    accepted = page.inner_text("#accepted-list")
    assert "2.3.5-1 现代学徒制试点报告.pdf" in accepted and "2.3.4-1 订单学明细表.txt" in accepted
    assert "2.3.5-1" in accepted
    shot(page, "03-uploaded")

    big = tmp_path / "2.3.4-2 超大扫描件.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (3 * 1024 * 1024))
    # the keyboard way: Enter on the drop zone opens the file input's chooser
    page.evaluate(
        "document.getElementById('file-input').addEventListener('click',"
        " e => { window.pickedByKeyboard = true; e.preventDefault(); })"
    )
    page.focus("#dropzone")
    page.keyboard.press("Enter")
    page.wait_for_function("window.pickedByKeyboard === true", timeout=5000)
    page.set_input_files("#file-input", str(big))
    page.wait_for_selector("#progress-list li:has-text('超大扫描件') .state-error")
    page.keyboard.press("Tab")  # the file inputs themselves take focus (they are not hidden)
    assert page.evaluate("document.activeElement.id") == "file-input"
    empty = tmp_path / "2.3.4-3 空白扫描件.pdf"
    empty.write_bytes(b"")
    page.set_input_files("#file-input", str(empty))
    refused = page.wait_for_selector("#progress-list li:has-text('空白扫描件') .state-error")
    assert refused.inner_text() == "已拒收：文件为空（0 字节）"  # not a green 完成
    assert "未上传：超过上限（2 MB）" in page.inner_text("#progress-list")
    assert "超大扫描件" not in page.inner_text("#upload-results")

    deadline = time.time() + 90
    while True:
        page.goto(base + "/search?q=" + urllib.request.quote('"迅达电梯订单班"'))
        if page.query_selector("article.hit"):
            break
        assert time.time() < deadline, "document was not processed in time"
        time.sleep(1)
    snippet = page.inner_html("article.hit blockquote.snippet")
    assert "<mark>" in snippet and "订单班" in page.inner_text(
        "article.hit blockquote.snippet mark"
    )
    assert "第 2 页" in page.inner_text("article.hit")
    shot(page, "04-search-hit")

    page.click("article.hit blockquote.snippet a.page-link")
    page.wait_for_selector("#page-image")
    assert "第 2 页 / 共 3 页" in page.inner_text("#page-indicator")
    page.wait_for_function(
        "() => { const i = document.getElementById('page-image'); return i.complete && i.naturalWidth > 0; }",
        timeout=30000,
    )
    assert "<mark>" in page.inner_html("pre.page-text")
    header = page.inner_text("main")
    assert '高亮："迅达电梯订单班"' in header and "迅达、达电" not in header  # no bigram bits
    page.wait_for_function(  # the first highlight is scrolled into view
        "() => { const r = document.querySelector('pre.page-text mark').getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
        timeout=10000,
    )
    shot(page, "05-document-page")

    page.click("text=退出")
    login(page, base, "staff1")
    response = page.goto(base + "/admin/users")
    assert response.status == 403
    assert "您没有权限" in page.content()
    assert page.query_selector("a[href='/admin/users']") is None
    shot(page, "06-staff-forbidden")

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    mobile = phone.new_page()
    login(mobile, base, "staff1")
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 400
    shot(mobile, "07-phone-home")
    phone.close()
    context.close()
