"""Fixtures for the browser tests: one real cluster and one real Chromium per module.

* ``run_py``: ``run.py --port 0 --no-browser --nodes 5`` in a subprocess, its
  URL and token parsed from its output; stopped by pid afterwards, and every
  node process it spawned must be gone (``RunPy.stop``).
* ``browser``: the system Chromium (``/usr/bin/chromium``), headless.
* ``page``: a fresh browser context per test (so sessionStorage, where the
  page keeps the instructor token, starts empty), with the page's uncaught
  JavaScript errors collected; a test fails if there were any.

Starting a cluster costs seconds, so the tests of one module share it; a test
that breaks something (kills a node) repairs it before it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_testkit import CHROMIUM, CHROMIUM_ARGS, ROOT, PageLog, RunPy, wait_until
from playwright.sync_api import Browser, Page, sync_playwright

NODE_MODULES = ROOT / "frontend" / "node_modules"
CLUSTER_UP_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def run_py(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPy]:
    if not (NODE_MODULES / "socket.io-client").is_dir():
        pytest.fail("frontend/node_modules is missing: run `cd frontend && npm ci`")
    run = RunPy(tmp_path_factory.mktemp("run"), nodes=5)
    try:
        run.start()
        wait_until(run.all_up, CLUSTER_UP_TIMEOUT_S, what="all 5 nodes up in /api/cluster")
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, run_py: RunPy, page_log: PageLog) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    try:
        tab = context.new_page()
        tab.on("pageerror", lambda exc: page_log.errors.append(str(exc)))
        tab.on("request", lambda request: page_log.request_urls.append(request.url))
        tab.goto(run_py.url)
        yield tab
        assert page_log.errors == [], f"JavaScript errors in the page: {page_log.errors}"
    finally:
        context.close()
