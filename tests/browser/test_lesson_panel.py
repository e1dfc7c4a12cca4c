"""The narration panel in a real Chromium: start a lesson and step through it.

A 3-node ``run.py`` (lessons need no more), the instructor unlocks the page,
picks "Leader crash and re-election", presses Start and Next: the narration
names the real leader of this run, the actions and ✓ checks appear as the
backend's runner performs them, and after the kill a new leader is named.
A viewer without the token sees the same narration and no buttons.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_testkit import RunPy, wait_until
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

UI_TIMEOUT_MS = 20_000
STEP_TIMEOUT_MS = 60_000  # a step waits for an election on two busy cores
CLUSTER_UP_TIMEOUT_S = 60.0
RESET_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def run_py(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPy]:
    run = RunPy(tmp_path_factory.mktemp("run"), nodes=3)
    try:
        run.start()
        wait_until(run.all_up, CLUSTER_UP_TIMEOUT_S, what="all 3 nodes up in /api/cluster")
        wait_until(lambda: run.cluster()["leader"], CLUSTER_UP_TIMEOUT_S, what="a leader")
        yield run
    finally:
        run.stop()


def unlock(page: Page, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)


def test_start_a_lesson_and_advance_its_first_steps(page: Page, run_py: RunPy) -> None:
    unlock(page, run_py.token)
    panel = page.get_by_test_id("lessons-panel")
    expect(panel).to_be_visible()
    select = page.get_by_test_id("lesson-select")
    expect(select.locator("option")).to_have_count(10, timeout=UI_TIMEOUT_MS)
    select.select_option("leader_crash")
    page.get_by_test_id("lesson-start").click()
    expect(page.get_by_test_id("lesson-title")).to_have_text("Leader crash and re-election",
                                                             timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-status")).to_have_text("ready")

    # Step 1: the narration names this run's leader, the write is made, its check passes.
    leader = run_py.cluster()["leader"]
    page.get_by_test_id("lesson-next").click()
    narration = page.get_by_test_id("lesson-narration")
    expect(narration).to_contain_text(f"The cluster has a leader, {leader}",
                                      timeout=STEP_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-step-title")).to_have_text(
        re.compile(r"Step 1 of 4"))
    check = page.get_by_test_id("lesson-check").first
    expect(check).to_have_attribute("data-ok", "true", timeout=STEP_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-action").first).to_contain_text("put before-crash=safe")
    expect(page.get_by_test_id("lesson-status")).to_have_text("ready", timeout=STEP_TIMEOUT_MS)

    # Step 2: the leader is killed, a new one elected; every check ✓.
    page.get_by_test_id("lesson-next").click()
    expect(page.get_by_test_id("lesson-step-title")).to_have_text(
        re.compile(r"Step 2 of 4 — Kill the leader"), timeout=STEP_TIMEOUT_MS)
    expect(narration).to_contain_text(f"Kill {leader}")
    expect(page.get_by_test_id("lesson-check")).to_have_count(3, timeout=STEP_TIMEOUT_MS)
    for i in range(3):
        expect(page.get_by_test_id("lesson-check").nth(i)).to_have_attribute("data-ok", "true")
    new_leader = run_py.cluster()["leader"]
    assert new_leader not in (None, leader)
    assert run_py.node(leader)["state"] == "down"

    # The progress bar shows two passed steps of four.
    progress = page.get_by_test_id("lesson-progress").locator("li")
    expect(progress).to_have_count(4)
    expect(progress.nth(0)).to_have_attribute("data-state", "passed")
    expect(progress.nth(1)).to_have_attribute("data-state", "passed")
    expect(progress.nth(2)).to_have_attribute("data-state", "pending")

    # Reset restarts the killed node and readies the lesson again.
    page.get_by_test_id("lesson-reset").click()
    expect(page.get_by_test_id("lesson-status")).to_have_text("ready", timeout=STEP_TIMEOUT_MS)
    wait_until(run_py.all_up, RESET_TIMEOUT_S, what="the killed leader restarted by the reset")
    expect(progress.nth(0)).to_have_attribute("data-state", "pending")


def test_a_viewer_without_the_token_sees_the_narration_but_no_buttons(
    page: Page, run_py: RunPy
) -> None:
    expect(page.get_by_test_id("lessons-panel")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-select").locator("option")).to_have_count(
        10, timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-start")).to_be_hidden()
    expect(page.get_by_test_id("chaos-toggle")).to_be_hidden()
    # The lesson the instructor loaded is shown to everyone.
    expect(page.get_by_test_id("lesson-title")).to_have_text("Leader crash and re-election",
                                                             timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("lesson-next")).to_be_hidden()
