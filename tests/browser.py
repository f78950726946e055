"""Helpers for the few browser tests: Debian's Chromium driven by Playwright (no browser
download: Playwright only talks to the system binary)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request

import pytest
import uvicorn

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail("Chromium is not installed: `apt-get install chromium` (.ci/run does this).")


@pytest.fixture
def browser_page():
    # Playwright's sync API runs an event loop in this thread; Django would otherwise refuse
    # the test's own ORM calls made between browser steps.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            os.makedirs("test-artifacts", exist_ok=True)
            page.screenshot(path="test-artifacts/last-browser-test.png", full_page=True)
            context.close()
            browser.close()
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def asgi_server():
    """penguinleads.asgi.application under uvicorn on a free loopback port, in this process
    (so it uses the test database); yields the port. pytest-django's live_server is WSGI and
    cannot serve WebSockets."""
    from penguinleads.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(application, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def post_events(port: int, host: str, key: str, events: list[dict]) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/events/batch", method="POST",
        data=json.dumps({"events": events}).encode(),
        headers={"Host": host, "Authorization": f"Bearer {key}",
                 "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
