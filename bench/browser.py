"""The dashboard opened in the system's headless Chromium, for benchmarks and the screenshot.

The telemetry benchmark counts events *in a real page* because that is the
number a student feels: events that reach the hub but not the page might as
well not exist. Chromium is the machine's own (/usr/bin/chromium); nothing
is downloaded.
"""

from __future__ import annotations

import mimetypes
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, CDPSession, Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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
# A backend that knows the instructor's stream answers the unlock within a
# round trip; one that does not (an older one) never will.
ROLE_ANSWER_TIMEOUT_MS = 5_000
# Lecture-hall projector size; also the size of docs/screenshot.png.
VIEWPORT = {"width": 1600, "height": 900}
# V8 samples the page's stack this often while profiling: fine enough to see
# a function that costs 1% of a second, coarse enough to cost little itself.
PROFILE_SAMPLING_INTERVAL_US = 500
# A profile answers "which few functions cost the most"; the long tail is noise.
PROFILE_TOP_FUNCTIONS = 40


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def serve_frontend_from(page: Page, url: str, frontend_dir: Path) -> None:
    """Answer the page's modules and styles (``/static/``) from ``frontend_dir``.

    Why: an A/B benchmark of a front-end change compares two copies of
    ``frontend/`` against the same backend and cluster, run after run
    (old, new, old, new), without touching the working tree. ``index.html``
    itself still comes from the backend: a document Playwright made up has
    no network address, and Chromium's local-network checks then refuse its
    WebSocket to the loopback backend.
    """
    prefix = url.rstrip("/") + "/static/"

    def fulfil(route: Route) -> None:
        relative = route.request.url[len(prefix) :].split("?", 1)[0]
        file = frontend_dir / relative
        if not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        route.fulfill(status=200, body=file.read_bytes(), content_type=content_type)

    page.route(f"{prefix}**", fulfil)


def open_dashboard(
    browser: Browser, url: str, nodes: int, frontend_dir: Path | None = None
) -> Page:
    """A page on ``url``, connected over WebSocket, with all ``nodes`` drawn "up".

    ``frontend_dir``: serve the page's modules and styles from this copy of
    ``frontend/`` instead of the backend's (serve_frontend_from).
    """
    page = browser.new_page(viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]})
    if frontend_dir is not None:
        serve_frontend_from(page, url, frontend_dir)
    page.goto(url)
    wait_ready(page, nodes)
    if frontend_dir is not None:
        # Every module and style has loaded. An active route makes Chromium
        # pause each later request for Playwright; measure without that.
        page.unroute_all()
    return page


def wait_ready(page: Page, nodes: int) -> None:
    """Until the page is connected over WebSocket and draws all ``nodes`` "up"."""
    page.wait_for_function(
        f"""() => {{
            const lab = window.clusterlab;
            return lab && lab.transportName() === "websocket"
                && document.querySelectorAll('#topology [data-state="up"]').length === {nodes};
        }}""",
        timeout=PAGE_READY_TIMEOUT_MS,
    )


def unlock(page: Page, token: str) -> str:
    """Type the instructor token as a person would; the stream the server gave the page.

    Why benchmarks unlock: the instructor's projected page is the one issue 2
    is about, and a backend may send read-only pages only a sample of the
    traffic. Returns the role the status bar shows (``status-stream``):
    "instructor", or "" when the page or the backend does not tell.
    """
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    page.wait_for_function(
        "() => document.body.classList.contains('instructor')", timeout=PAGE_READY_TIMEOUT_MS
    )
    try:
        page.wait_for_function(
            """() => document.querySelector('[data-testid="status-stream"]')
                     ?.dataset.role === "instructor" """,
            timeout=ROLE_ANSWER_TIMEOUT_MS,
        )
    except PlaywrightTimeoutError:
        return ""
    return "instructor"


def lab(page: Page, expression: str) -> Any:
    """Evaluate ``expression`` in the page, with ``lab`` bound to ``window.clusterlab``."""
    return page.evaluate(f"() => {{ const lab = window.clusterlab; return {expression}; }}")


# Chromium's cumulative main-thread timers (Performance.getMetrics), in
# seconds: they split what the JS profile calls "(program)" into style
# recalculation, layout and the rest of each task (paint, parsing, GC...).
MAIN_THREAD_METRICS = ("TaskDuration", "ScriptDuration", "RecalcStyleDuration", "LayoutDuration")


class PageProfiler:
    """A V8 CPU profile of the page's main thread, over Chrome DevTools Protocol.

    Why self time per function: the question a slow page asks is "where does
    the main thread go", and the functions that do the work (not the ones
    that merely call them) are the ones to make cheaper.
    """

    def __init__(self, page: Page) -> None:
        self._cdp: CDPSession = page.context.new_cdp_session(page)
        self._cdp.send("Profiler.enable")
        self._cdp.send("Profiler.setSamplingInterval", {"interval": PROFILE_SAMPLING_INTERVAL_US})
        self._cdp.send("Performance.enable")
        self._metrics_before: dict[str, float] = {}

    def _metrics(self) -> dict[str, float]:
        metrics = self._cdp.send("Performance.getMetrics")["metrics"]
        return {m["name"]: float(m["value"]) for m in metrics if m["name"] in MAIN_THREAD_METRICS}

    def start(self) -> None:
        self._metrics_before = self._metrics()
        self._cdp.send("Profiler.start")

    def stop(self) -> dict[str, Any]:
        """Stop; the top functions by self time, and where the main thread went."""
        profile = self._cdp.send("Profiler.stop")["profile"]
        after = self._metrics()
        main_thread_ms = {
            name: round((after.get(name, 0.0) - self._metrics_before.get(name, 0.0)) * 1000, 1)
            for name in MAIN_THREAD_METRICS
        }
        return {"main_thread_ms": main_thread_ms, **summarize_profile(profile)}


def summarize_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """Self milliseconds per ``function url:line`` of a V8 ``Profiler.Profile``."""
    frame_of = {}
    for node in profile["nodes"]:
        frame = node["callFrame"]
        url = frame.get("url", "").rsplit("/", 1)[-1]
        name = frame.get("functionName") or "(anonymous)"
        where = f"{url}:{frame.get('lineNumber', -1) + 1}" if url else ""
        frame_of[node["id"]] = f"{name} {where}".strip()
    self_us: dict[str, float] = defaultdict(float)
    # timeDeltas[i] is the time since the previous sample: it belongs to sample i.
    for node_id, delta_us in zip(profile["samples"], profile["timeDeltas"], strict=True):
        self_us[frame_of[node_id]] += delta_us
    total_us = sum(self_us.values()) or 1.0
    idle_us = self_us.get("(idle)", 0.0)
    top = sorted(self_us.items(), key=lambda item: item[1], reverse=True)[:PROFILE_TOP_FUNCTIONS]
    return {
        "profiled_ms": round(total_us / 1000, 1),
        "busy_share": round(1 - idle_us / total_us, 3),
        "top_self_ms": [
            {"function": name, "self_ms": round(us / 1000, 1), "share": round(us / total_us, 4)}
            for name, us in top
        ],
    }
