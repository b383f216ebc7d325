"""What the browser tests share: a real `evidence serve` + `evidence worker` on a fresh
instance (module-scoped fixture ``server``), Debian's Chromium through Playwright
(``browser``), logging in, screenshots and a small Chinese PDF."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["PUBLIC_URL"] = base  # the sign-in links the CLI prints
    evidence(env, "init")
    evidence(
        env, "user", "add", "admin", "--role", "admin", "--password-stdin", input=PASSWORD + "\n"
    )
    evidence(
        env, "user", "add", "staff1", "--role", "staff", "--password-stdin", input=PASSWORD + "\n"
    )
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
    yield {"base": base, "home": home, "env": env}
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
