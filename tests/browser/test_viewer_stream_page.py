"""Two streams, as pages meet them (issue #6): a page without the token is sent a
sample of the messages and says so; unlocking it brings the full stream;
locking it again goes back to the sample.

A real cluster under load, two real Chromium tabs side by side.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from browser_testkit import RunPy, lab
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.browser

UI_TIMEOUT_MS = 20_000  # generous: the pages, five nodes and the backend share two cores
# 5 nodes x 200 msgs/s x 2 events = 2,000 message events/s: ten times the viewers' cap.
LOAD_MSGS_PER_S = 200
MEASURE_MS = 3_000


def set_load(run_py: RunPy, msgs_per_s: int) -> None:
    reply = requests.post(
        run_py.url + "api/load",
        json={"msgs_per_s": msgs_per_s},
        headers={"Authorization": f"Bearer {run_py.token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text


@pytest.fixture
def instructor(browser: Browser, run_py: RunPy) -> Iterator[Page]:
    """A second tab, unlocked; opened before the load, as a lecture starts."""
    context = browser.new_context()
    try:
        tab = context.new_page()
        tab.goto(run_py.url)
        tab.get_by_test_id("token-input").fill(run_py.token)
        tab.get_by_test_id("token-submit").click()
        yield tab
    finally:
        context.close()


@pytest.fixture
def loaded(run_py: RunPy) -> Iterator[None]:
    set_load(run_py, LOAD_MSGS_PER_S)
    try:
        yield
    finally:
        set_load(run_py, 0)  # the module's cluster is shared: leave it quiet


def events_in(page: Page, ms: int) -> int:
    before = int(lab(page, "lab.eventsReceived"))
    page.wait_for_timeout(ms)
    return int(lab(page, "lab.eventsReceived")) - before


def test_a_viewer_is_told_it_sees_a_sample_and_the_instructor_gets_everything(
    page: Page, instructor: Page, loaded: None
) -> None:
    mine = instructor.get_by_test_id("status-stream")
    expect(mine).to_have_attribute("data-role", "instructor", timeout=UI_TIMEOUT_MS)
    expect(mine).to_contain_text("full", timeout=UI_TIMEOUT_MS)
    stream = page.get_by_test_id("status-stream")
    expect(stream).to_have_attribute("data-role", "viewer", timeout=UI_TIMEOUT_MS)
    expect(stream).to_contain_text("showing 1 in", timeout=UI_TIMEOUT_MS)
    # one after the other, not at once: the two tabs share a core
    to_instructor = events_in(instructor, MEASURE_MS)
    to_viewer = events_in(page, MEASURE_MS)
    assert to_instructor > 3 * to_viewer, (to_instructor, to_viewer)

    instructor.get_by_test_id("token-forget").click()  # Lock: a viewer again
    expect(mine).to_have_attribute("data-role", "viewer", timeout=UI_TIMEOUT_MS)
    expect(mine).to_contain_text("showing 1 in", timeout=UI_TIMEOUT_MS)
