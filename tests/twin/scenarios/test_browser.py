"""A real browser through the one Open-WebUI URL: Debian's headless Chromium driven by Playwright.

Product: what a user sees — sign in, a chat whose answer streams in over the websocket without a reload, served by
every frontend replica in turn (shared sessions, database and websocket manager). Twin: the URL is the twin's
HAProxy, which names the replica that served each response in X-Served-By.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.twin.scenarios.conftest import Twin

pytestmark = pytest.mark.twin

CHROMIUM = "/usr/bin/chromium"
MODEL = "llama3.2:1b"
MAX_CHATS = 8


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (tools/bootstrap.sh installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _sign_in(page, url: str, account: dict[str, str]) -> None:
    page.goto(f"{url}/auth", wait_until="networkidle")
    page.fill("input[type=email]", account["email"])
    page.fill("input[type=password]", account["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#chat-input", timeout=60_000)


def _chat(page, url: str, prompt: str) -> tuple[str, str]:
    """Send one prompt in a new chat; returns (the replica that served the completion request, the answer)."""
    served = {}

    def record(response):
        if "/api/chat/completions" in response.url and response.request.method == "POST":
            served["by"] = response.headers.get("x-served-by", "")

    page.on("response", record)
    try:
        page.goto(f"{url}/?models={MODEL}", wait_until="networkidle")
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
        box = page.locator("#chat-input")
        box.click()
        box.fill(prompt)
        page.click("#send-message-button")
        answer = page.locator("#response-content-container").last
        answer.wait_for(timeout=120_000)
        deadline = time.monotonic() + 120
        text = ""
        while time.monotonic() < deadline:
            text = answer.inner_text().strip()
            if text and page.locator("#send-message-button").count() and not page.locator(".stop-button").count():
                break
            time.sleep(1)
        # The chat URL changes (history.pushState) but the document is never reloaded.
        assert all("/c/" in u or u.rstrip("/") == url.rstrip("/") for u in navigations), navigations
        return served.get("by", ""), text
    finally:
        page.remove_listener("response", record)


def test_a_browser_chats_through_every_frontend(twin: Twin, browser, webui_account, record_property):
    url = twin.outputs["ollama_service_url"]
    frontends = set(twin.in_service(twin.outputs["ollama_frontend_asg_name"]))
    assert len(frontends) >= 2
    page = browser.new_page()
    _sign_in(page, url, webui_account)
    served: dict[str, str] = {}
    started = time.monotonic()
    for number in range(MAX_CHATS):
        by, answer = _chat(page, url, f"Say hello to replica check number {number}.")
        assert answer, f"chat {number} showed no answer (served by {by!r})"
        served.setdefault(by, answer)
        if frontends <= set(served):
            break
    record_property("browser_chats_seconds", round(time.monotonic() - started, 1))
    assert frontends <= set(served), f"completions served by {sorted(served)}, frontends {sorted(frontends)}"
