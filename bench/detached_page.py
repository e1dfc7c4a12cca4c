"""The dashboard in a Chromium with no automation attached: the page as a user has it.

Why: Playwright drives Chromium over the DevTools protocol and subscribes to
the page's network events, every WebSocket frame included, payload and all.
Chromium serialises each one to the driver and the driver (a Node.js
process) parses it: about a tenth of a core at a busy cluster's telemetry
rate, spent by the harness, not by the dashboard. A benchmark of what the
dashboard costs its user therefore opens the page, unlocks it, and then
disconnects: the page keeps running in a browser nobody is instrumenting.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from bench.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, unlock, wait_ready
from bench.run_process import descendants_of

# Chromium writes its DevTools port here once it listens (--remote-debugging-port=0).
PORT_FILE = "DevToolsActivePort"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def detached_dashboard(
    url: str,
    nodes: int,
    token: str | None = None,
    prepare: Callable[[Page], None] | None = None,
) -> Iterator[set[int]]:
    """A headless Chromium showing ``url`` (unlocked with ``token`` if given), automation
    detached; yields the PIDs of its processes, for CPU accounting. Stopped on exit.

    ``prepare(page)`` runs last before the disconnect: a diagnosis can hide or
    slow down one part of the page (bench/page_parts.py)."""
    profile_dir = Path(tempfile.mkdtemp(prefix="clusterlab-chromium-"))
    process = subprocess.Popen(
        [
            CHROMIUM, "--headless", *CHROMIUM_ARGS,
            "--remote-debugging-port=0", f"--user-data-dir={profile_dir}",
            f"--window-size={VIEWPORT['width']},{VIEWPORT['height']}", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as one below
    )  # fmt: skip
    try:
        port = _devtools_port(profile_dir / PORT_FILE, process)
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            # The default context: closing the connection leaves its pages open.
            context = browser.contexts[0]
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(url)
            wait_ready(page, nodes)
            if token is not None:
                unlock(page, token)
            if prepare is not None:
                prepare(page)
            browser.close()  # disconnects; Chromium and the page run on
        yield {process.pid, *descendants_of(process.pid)}
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(profile_dir, ignore_errors=True)


def _devtools_port(port_file: Path, process: subprocess.Popen[bytes]) -> int:
    deadline_s = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if process.poll() is not None:
            raise RuntimeError(f"{CHROMIUM} exited with {process.returncode} at start")
        with suppress(FileNotFoundError, ValueError, IndexError):
            return int(port_file.read_text().split()[0])
        time.sleep(0.05)
    raise RuntimeError(f"{CHROMIUM} did not open its DevTools port in {START_TIMEOUT_S:.0f} s")
