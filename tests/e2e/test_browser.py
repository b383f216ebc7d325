"""Browser test: Debian's Chromium driven by Playwright against `evidence serve` + `evidence worker`.

Logs in, imports the fixture framework, uploads a CP936 ZIP, waits for processing, searches
a Chinese phrase, opens the document at the hit's page, and checks that a staff user cannot
open user management. Screenshots of each step go to the test-artifacts folder.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from config import settings_for_tests

ENV = settings_for_tests()
CHROMIUM = ENV["chromium"]
ARTIFACTS = Path(ENV["artifacts"]).resolve() / "e2e"
PASSWORD = "browser-pass-1"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evidence(env: dict, *args: str, input: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "evidence_app.cli", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def multi_page_pdf(pages: list[str]) -> bytes:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    for text in pages:
        c.setFont("STSong-Light", 16)
        c.drawString(72, 700, text)
        c.showPage()
    c.save()
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not installed at {CHROMIUM} (make test installs it when root)")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("e2e-home")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "REDIS_URL", "SEARCH_BACKEND"))
    }
    env.update({"EVIDENCE_HOME": str(home), "SECRET_KEY": "e2e", "LOG_LEVEL": "WARNING"})
    env["MAX_UPLOAD_BYTES"] = str(2 * 1024 * 1024)  # small, to see the page refuse a big file
    evidence(env, "init")
    evidence(
        env, "user", "add", "admin", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    evidence(
        env, "user", "add", "staff1", "--role", "staff", "--password-stdin", input=PASSWORD + "\n"
    )
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "evidence_app.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "evidence_app.cli", "worker", "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
    else:
        web.kill()
        worker.kill()
        pytest.fail("server did not start")
    yield {"base": base, "home": home}
    for proc in (web, worker):
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


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
    page.set_input_files("#file-input", str(big))
    page.wait_for_selector("#progress-list li:has-text('超大扫描件') .state-error")
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
