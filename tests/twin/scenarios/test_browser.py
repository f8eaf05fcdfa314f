"""A real browser through the one Open-WebUI URL: Debian's headless Chromium driven by Playwright.

Product: what a user sees — sign in, a chat whose answer streams in over the websocket without a reload, served by
every frontend replica in turn (shared sessions, database and websocket manager). Twin: the URL is the twin's
HAProxy, which names the replica that served each response in X-Served-By; the browser runs in a network
namespace of its own (browser_command).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.twin.scenarios.conftest import Twin, console, http

pytestmark = pytest.mark.twin

CHROMIUM = "/usr/bin/chromium"
BROWSER_NAMESPACE = "ollama-twin-browser"
# The host's and the browser's end of the browser's link: a /30 outside the twin's VPCs (10.213/16, 10.214/16).
BROWSER_LINK = ("10.215.0.1", "10.215.0.2")
# The chat model the bake pulls (the backend also serves the embedding model, which cannot chat).
MODEL = "llama3.2:1b"
MAX_CHATS = 8
ANSWER_SECONDS = 120
# Open-WebUI's first page load: the application bundle, then its configuration from the frontend.
SIGN_IN_SECONDS = 90


def _ip(*args: str, check: bool = True) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")


@pytest.fixture(scope="module")
def browser_command(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Chromium in a network namespace of its own, linked to the host by a veth pair and routed to the host's
    addresses (where the twin's load balancers listen). Twin only: Chromium fails every request in flight
    (net::ERR_NETWORK_CHANGED) when an interface of its namespace comes or goes, and podman adds and removes one
    on the host for every container it starts or stops, which the other test stages do beside the twin. Measured
    over 40 s of page loads beside four container starts: 20 to 38 failed requests in the host's namespace, none
    in its own over eight starts."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (tools/bootstrap.sh installs Debian's chromium)")
    host, inside = BROWSER_LINK
    _ip("netns", "del", BROWSER_NAMESPACE, check=False)  # one a stopped run left behind
    _ip("netns", "add", BROWSER_NAMESPACE)
    try:
        _ip("link", "add", "otb-host", "type", "veth", "peer", "name", "otb-browser", "netns", BROWSER_NAMESPACE)
        _ip("addr", "add", f"{host}/30", "dev", "otb-host")
        _ip("link", "set", "otb-host", "up")
        _ip("-n", BROWSER_NAMESPACE, "addr", "add", f"{inside}/30", "dev", "otb-browser")
        _ip("-n", BROWSER_NAMESPACE, "link", "set", "otb-browser", "up")
        _ip("-n", BROWSER_NAMESPACE, "link", "set", "lo", "up")
        _ip("-n", BROWSER_NAMESPACE, "route", "add", "default", "via", host)
        command = tmp_path_factory.mktemp("browser") / "chromium"
        command.write_text(f'#!/bin/sh\nexec ip netns exec {BROWSER_NAMESPACE} {CHROMIUM} "$@"\n')
        command.chmod(0o755)
        yield command
    finally:
        _ip("netns", "del", BROWSER_NAMESPACE, check=False)  # removes the veth pair with it


@pytest.fixture(scope="module")
def browser(browser_command: Path):
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser_command, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open_chat_page(page, url: str) -> None:
    page.goto(f"{url}/?models={MODEL}", wait_until="domcontentloaded")
    page.wait_for_selector("#chat-input", timeout=60_000)
    whats_new = page.get_by_text("Okay, Let's Go!")  # the release notes shown once per account and version
    if whats_new.count():
        whats_new.click()


def _page_state(page) -> str:
    """Where the page is and what it shows, for a failure message."""
    try:
        text = " ".join(page.locator("body").inner_text(timeout=5_000).split())
    except PlaywrightError as error:
        text = f"(no text: {error.message.splitlines()[0]})"
    return f"at {page.url!r} titled {page.title()!r}, showing: {text[:600]!r}"


def _frontend_state(url: str) -> str:
    """The replica that serves the sign-in page now, its answer, and the last lines of its Open-WebUI journal."""
    status, headers, _ = http(f"{url}/auth")
    replica = headers.get("x-served-by", "")
    if not replica:
        return f"/auth answers {status} from no replica"
    journal = console(replica, "journalctl", "-u", "open-webui", "-n", "25", "--no-pager", "-o", "cat").stdout
    return f"/auth answers {status} from {replica}; its Open-WebUI journal:\n{journal}"


def _sign_in(page, url: str, account: dict[str, str]) -> str:
    """Sign in through the sign-in page. When loading the application fails (SvelteKit shows "500: Internal Error"
    in the page, its own error page, without any server answering 500), the page is loaded once more, as a user
    would reload it; returns what the failed load showed and which requests failed ('' when the first load worked).
    A second failure fails the test."""
    failures: list[str] = []

    def failed(request) -> None:
        failures.append(f"{request.method} {request.url} failed: {request.failure}")

    def answered(response) -> None:
        if response.status >= 400:
            by = response.headers.get("x-served-by", "no replica")
            failures.append(f"{response.request.method} {response.url} answered {response.status} from {by}")

    page.on("requestfailed", failed)
    page.on("response", answered)
    first_load = ""
    try:
        for attempt in (1, 2):
            failures.clear()
            page.goto(f"{url}/auth", wait_until="domcontentloaded")
            form = page.locator("input[type=email]")
            error_page = page.get_by_text("Internal Error")
            with contextlib.suppress(PlaywrightError):  # neither within the time: said below
                form.or_(error_page).first.wait_for(timeout=SIGN_IN_SECONDS * 1000)
            if form.count():
                break
            shown = f"the page is {_page_state(page)}; failed requests: {failures or 'none seen'}"
            if attempt == 2:
                raise AssertionError(
                    f"no sign-in form, twice: {shown}\n{_frontend_state(url)}\nthe first time: {first_load}"
                )
            first_load = shown
    finally:
        page.remove_listener("requestfailed", failed)
        page.remove_listener("response", answered)
    page.fill("input[type=email]", account["email"])
    page.fill("input[type=password]", account["password"])
    page.click("button[type=submit]")
    page.wait_for_selector("#chat-input", timeout=60_000)
    return first_load


def _chat(page, url: str, prompt: str) -> tuple[str, list[str]]:
    """Send one prompt in a new chat; returns the replica that served the completion request and the answer's text
    as the page showed it, read every 0.1 s until it stopped changing."""
    served = {}
    loads = []

    def reloaded(page_loaded) -> None:
        loads.append(page_loaded.url)

    def record(response):
        if response.url.endswith("/api/chat/completions") and response.request.method == "POST":
            served["by"] = response.headers.get("x-served-by", "")

    _open_chat_page(page, url)
    page.on("response", record)
    page.on("load", reloaded)
    try:
        box = page.locator("#chat-input")
        box.click()
        box.fill(prompt)
        page.click("#send-message-button")
        answer = page.locator("#response-content-container").last
        answer.wait_for(timeout=ANSWER_SECONDS * 1000)
        shown: list[str] = []
        unchanged_since = time.monotonic()
        deadline = time.monotonic() + ANSWER_SECONDS
        while time.monotonic() < deadline:
            text = answer.inner_text().strip()
            if text and (not shown or text != shown[-1]):
                shown.append(text)
                unchanged_since = time.monotonic()
            elif text and time.monotonic() - unchanged_since > 3:
                break  # unchanged for three seconds: the stream ended
            time.sleep(0.1)
        assert not loads, "the page reloaded while the answer streamed"
        return served.get("by", ""), shown
    finally:
        page.remove_listener("response", record)
        page.remove_listener("load", reloaded)


def test_a_browser_chats_through_every_frontend(twin: Twin, browser, webui_account, record_property):
    url = twin.outputs["ollama_service_url"]
    frontends = set(twin.in_service(twin.outputs["ollama_frontend_asg_name"]))
    assert len(frontends) >= 2
    page = browser.new_page()
    first_load = _sign_in(page, url, webui_account)
    if first_load:
        record_property("browser_first_load_failed", first_load[:500])
    served: dict[str, str] = {}
    started = time.monotonic()
    for number in range(MAX_CHATS):
        by, shown = _chat(page, url, f"Say hello to replica check number {number}.")
        assert by in frontends, f"chat {number}: the completion was served by {by!r}, not a frontend"
        assert len(shown) >= 2 and shown[-1].startswith(shown[0]), (
            f"chat {number} did not stream into the page (the answer as shown, every 0.1 s: {shown})"
        )
        served.setdefault(by, shown[-1])
        if frontends <= set(served):
            break
    record_property("browser_chats_seconds", round(time.monotonic() - started, 1))
    assert frontends <= set(served), f"completions served by {sorted(served)}, frontends {sorted(frontends)}"
