"""The dashboard opened in the system's headless Chromium, for benchmarks and the screenshot.

The telemetry benchmark counts events *in a real page* because that is the
number a student feels: events that reach the hub but not the page might as
well not exist. Chromium is the machine's own (/usr/bin/chromium); nothing
is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_READY_TIMEOUT_MS = 60_000
# Lecture-hall projector size; also the size of docs/screenshot.png.
VIEWPORT = {"width": 1600, "height": 900}


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_dashboard(browser: Browser, url: str, nodes: int) -> Page:
    """A page on ``url``, connected over WebSocket, with all ``nodes`` drawn "up"."""
    page = browser.new_page(viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]})
    page.goto(url)
    page.wait_for_function(
        f"""() => {{
            const lab = window.clusterlab;
            return lab && lab.transportName() === "websocket"
                && document.querySelectorAll('#topology [data-state="up"]').length === {nodes};
        }}""",
        timeout=PAGE_READY_TIMEOUT_MS,
    )
    return page


def lab(page: Page, expression: str) -> Any:
    """Evaluate ``expression`` in the page, with ``lab`` bound to ``window.clusterlab``."""
    return page.evaluate(f"() => {{ const lab = window.clusterlab; return {expression}; }}")
