"""The Raft view in a real Chromium, on a real five-node cluster.

What only a browser shows: the rows and the topology agree with the nodes
on who leads (exactly one leader, crowned); a put typed into the KV panel
is committed by the real cluster (the page shows its index and term) and a
get returns it, from the leader or, stale, from one node's own copy; and a
click on "kill" for the leader makes the page show a new leader, elected by
the remaining processes.
"""

from __future__ import annotations

import re

import pytest
from browser_testkit import RunPy, lab, wait_until
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Generous: the page, five nodes and the backend share two busy cores.
UI_TIMEOUT_MS = 30_000
LEADER_TIMEOUT_S = 30.0


def unlock(page: Page, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)


def leader_rows(page: Page) -> object:
    return page.locator('[data-testid^="raft-row-"][data-role="leader"]')


def wait_for_one_leader(page: Page, other_than: str = "") -> str:
    """The page's leader once exactly one row and one topology node say so."""
    summary = page.get_by_test_id("raft-leader")
    expect(summary).to_have_attribute("data-leader", re.compile(r"^n\d+$"), timeout=UI_TIMEOUT_MS)
    if other_than:
        expect(summary).not_to_have_attribute("data-leader", other_than, timeout=UI_TIMEOUT_MS)
        expect(summary).to_have_attribute(
            "data-leader", re.compile(r"^n\d+$"), timeout=UI_TIMEOUT_MS
        )
    expect(leader_rows(page)).to_have_count(1, timeout=UI_TIMEOUT_MS)  # type: ignore[arg-type]
    expect(page.locator("#topology g.node.leader")).to_have_count(1, timeout=UI_TIMEOUT_MS)
    leader = summary.get_attribute("data-leader")
    assert leader
    return leader


def test_the_raft_view_shows_exactly_one_leader_as_the_nodes_say(
    page: Page, run_py: RunPy
) -> None:
    expect(page.locator('[data-testid^="raft-row-"]')).to_have_count(5, timeout=UI_TIMEOUT_MS)
    leader = wait_for_one_leader(page)
    # the same leader as the backend's view, and it is crowned in the topology
    wait_until(lambda: run_py.cluster()["leader"] == leader, LEADER_TIMEOUT_S,
               what=f"/api/cluster to name {leader}")
    expect(page.locator(f'#topology g.node[data-node="{leader}"]')).to_have_class(
        re.compile(r"\bleader\b")
    )
    row = page.get_by_test_id(f"raft-row-{leader}")
    expect(row.locator(".raft-term")).to_have_text(re.compile(r"^term [1-9]\d*$"))
    # every up node shows a log: at least the leader's no-op of its term (§8)
    expect(row.locator(".entry.committed").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    # a student sees no membership buttons
    expect(page.get_by_test_id("members-add")).to_be_hidden()


def test_a_put_from_the_kv_panel_commits_and_a_get_returns_it(
    page: Page, run_py: RunPy
) -> None:
    wait_for_one_leader(page)
    expect(page.get_by_test_id("kv-put")).to_be_hidden()  # a write needs the instructor
    unlock(page, run_py.token)
    page.get_by_test_id("kv-key").fill("lecture")
    page.get_by_test_id("kv-value").fill("raft is fun")
    page.get_by_test_id("kv-put").click()
    result = page.get_by_test_id("kv-result")
    expect(result).to_have_attribute("data-status", "200", timeout=UI_TIMEOUT_MS)
    index = int(result.get_attribute("data-index") or "0")
    assert index > 0
    expect(result).to_contain_text(f"committed at index {index}")
    # the leader's row shows the entry, committed, at its index
    expect(page.locator(f'.raft-log .entry.committed[data-index="{index}"]').first).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )

    page.get_by_test_id("kv-value").fill("")
    page.get_by_test_id("kv-get").click()
    expect(result).to_have_attribute("data-value", "raft is fun", timeout=UI_TIMEOUT_MS)
    expect(result).to_contain_text("linearizable read served by")

    # a stale read from one node's own copy: it may lag, but catches up
    page.get_by_test_id("kv-consistency").select_option("stale")
    page.get_by_test_id("kv-node").select_option("n5")

    def stale_read_has_it() -> bool:
        page.get_by_test_id("kv-get").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=kv-result]').dataset.status !== 'pending'",
            timeout=UI_TIMEOUT_MS,
        )
        return result.get_attribute("data-value") == "raft is fun"

    wait_until(stale_read_has_it, LEADER_TIMEOUT_S, interval_s=0.5, what="n5's stale copy")
    assert result.get_attribute("data-node") == "n5"


def test_a_write_through_a_follower_is_followed_to_the_leader(
    page: Page, run_py: RunPy
) -> None:
    leader = wait_for_one_leader(page)
    unlock(page, run_py.token)
    follower = next(n for n in ("n1", "n2", "n3", "n4", "n5") if n != leader)
    page.get_by_test_id("kv-key").fill("followed")
    page.get_by_test_id("kv-value").fill("hop")
    page.get_by_test_id("kv-node").select_option(follower)
    page.get_by_test_id("kv-put").click()
    expect(page.get_by_test_id("kv-result")).to_have_attribute(
        "data-status", "200", timeout=UI_TIMEOUT_MS
    )
    trace = page.get_by_test_id("kv-trace")
    expect(trace).to_contain_text(f"{follower} took the put from the client",
                                  timeout=UI_TIMEOUT_MS)
    expect(trace).to_contain_text(f"{leader} got it, forwarded by {follower}",
                                  timeout=UI_TIMEOUT_MS)
    # the forwarded request is a real message, drawn with its own colour and meaning
    kv_forward = page.locator('#legend .legend-item[data-kind="KvForward"]')
    expect(kv_forward).to_have_count(1, timeout=UI_TIMEOUT_MS)
    assert "forwards a client's write" in (kv_forward.get_attribute("title") or "")


def test_killing_the_leader_from_the_page_shows_a_new_leader(page: Page, run_py: RunPy) -> None:
    old = wait_for_one_leader(page)
    unlock(page, run_py.token)
    page.get_by_test_id(f"kill-{old}").click()
    try:
        expect(page.get_by_test_id(f"raft-row-{old}")).to_have_attribute(
            "data-role", "down", timeout=UI_TIMEOUT_MS
        )
        new = wait_for_one_leader(page, other_than=old)
        assert new != old
        wait_until(lambda: run_py.cluster()["leader"] == new, LEADER_TIMEOUT_S,
                   what=f"/api/cluster to name {new}")
        new_term = int(
            page.get_by_test_id(f"raft-row-{new}").locator(".raft-term").inner_text().split()[1]
        )
        assert new_term >= 2  # a new election means a new term (§5.2)
        assert lab(page, "lab.raft.counts.raftStates") > 0
    finally:
        # repair: the module's other tests share this cluster
        page.get_by_test_id(f"restart-{old}").click()
        wait_until(lambda: run_py.node(old)["state"] == "up", LEADER_TIMEOUT_S,
                   what=f"{old} up again")
