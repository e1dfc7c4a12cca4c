"""The dashboard's fault controls as an instructor uses them: real clicks, real faults.

A real ``run.py`` with five nodes and a real Chromium (conftest.py). Each
test checks what the page shows AND what the backend says happened
(``GET /api/cluster``, ``GET /api/faults``, ``GET /api/held``), and repairs
what it broke before it ends, since the tests of this module share one
cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from browser_testkit import RunPy, lab, wait_until
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

UI_TIMEOUT_MS = 20_000
API_TIMEOUT_S = 20.0
# A write made while delivery is held waits for its commit until the node's
# request timeout; the test's client waits longer.
WRITE_TIMEOUT_S = 60.0


def unlock(page: Page, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)


def faults(run_py: RunPy) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = run_py.api("/api/faults")["faults"]
    return found


def post(run_py: RunPy, path: str, body: dict[str, Any]) -> Any:
    return run_py.post(path, body)


def settled_leader(run_py: RunPy) -> str | None:
    """The leader, once every node follows it with the same log (no election under way)."""
    view = run_py.cluster()
    nodes = view["nodes"]
    agreed = {(n.get("leader_hint"), n.get("term"), n.get("log_length")) for n in nodes}
    leader: str | None = view["leader"]
    return (
        leader if len(agreed) == 1 and leader and all(n["state"] == "up" for n in nodes) else None
    )


@pytest.fixture
def healed(run_py: RunPy) -> Iterator[None]:
    """Whatever a test breaks is repaired for the next one, even when it fails."""
    try:
        yield
    finally:
        post(run_py, "/api/hold", {"on": False})
        post(run_py, "/api/faults", {"action": "heal", "links": True})
        for node in run_py.cluster()["nodes"]:
            if node["state"] == "paused":
                post(run_py, "/api/faults", {"action": "resume", "node": node["id"]})
            elif node["state"] == "down":
                post(run_py, "/api/faults", {"action": "restart", "node": node["id"]})
        wait_until(run_py.all_up, API_TIMEOUT_S, what="every node up again")


def test_a_viewer_gets_no_fault_menu_and_no_buttons(page: Page) -> None:
    n2 = page.locator('#topology [data-node="n2"]')
    expect(n2).to_have_attribute("data-state", "up", timeout=UI_TIMEOUT_MS)
    n2.click(button="right")
    expect(page.get_by_test_id("fault-menu")).to_be_hidden()
    for testid in ("hold-toggle", "hold-release-all", "partition-edit", "heal"):
        expect(page.get_by_test_id(testid)).to_be_hidden()
    # What is broken is part of the lesson: the lists are shown to everyone.
    expect(page.get_by_test_id("faults-panel")).to_be_visible()
    expect(page.get_by_test_id("hold-panel")).to_be_visible()


def test_right_click_kill_shows_the_node_down(page: Page, run_py: RunPy, healed: None) -> None:
    n2 = page.locator('#topology [data-node="n2"]')
    expect(n2).to_have_attribute("data-state", "up", timeout=UI_TIMEOUT_MS)
    unlock(page, run_py.token)

    n2.click(button="right")
    menu = page.get_by_test_id("fault-menu")
    expect(menu).to_be_visible()
    expect(menu.get_by_test_id("menu-resume")).to_be_disabled()  # n2 is not paused
    menu.get_by_test_id("menu-kill").click()
    expect(menu).to_be_hidden()

    expect(n2).to_have_attribute("data-state", "down", timeout=UI_TIMEOUT_MS)
    assert run_py.node("n2")["state"] == "down"
    fault_list = page.get_by_test_id("fault-list")
    expect(fault_list.locator('li[data-kind="down"]')).to_contain_text(
        "n2 down", timeout=UI_TIMEOUT_MS
    )

    # Back the same way: right-click, restart.
    n2.click(button="right")
    menu.get_by_test_id("menu-restart").click()
    expect(n2).to_have_attribute("data-state", "up", timeout=UI_TIMEOUT_MS)
    wait_until(lambda: run_py.node("n2")["state"] == "up", what="n2 up in /api/cluster")
    expect(fault_list.locator('li[data-kind="down"]')).to_have_count(0, timeout=UI_TIMEOUT_MS)


def test_partition_by_dragging_nodes_into_groups(page: Page, run_py: RunPy, healed: None) -> None:
    expect(page.locator('#topology [data-node][data-state="up"]')).to_have_count(
        5, timeout=UI_TIMEOUT_MS
    )
    unlock(page, run_py.token)
    page.get_by_test_id("partition-edit").click()
    expect(page.get_by_test_id("partition-editor")).to_be_visible()

    group1 = page.get_by_test_id("zone-1")
    group2 = page.get_by_test_id("zone-2")
    page.get_by_test_id("chip-n1").drag_to(group1)
    page.get_by_test_id("chip-n2").drag_to(group1)
    # A node's circle on the topology can be dragged into a group too.
    page.locator('#topology [data-node="n3"]').drag_to(group2)
    page.get_by_test_id("chip-n4").drag_to(group2)
    expect(group1.locator(".chip")).to_have_text(["n1", "n2"])
    expect(group2.locator(".chip")).to_have_text(["n3", "n4"])
    # n5 stays in "no group": with nobody else there, it is a group of its own.
    expect(page.get_by_test_id("zone-rest").locator(".chip")).to_have_text(["n5"])
    page.get_by_test_id("partition-apply").click()
    expect(page.get_by_test_id("partition-editor")).to_be_hidden(timeout=UI_TIMEOUT_MS)

    partition = wait_until(
        lambda: [f for f in faults(run_py) if f["kind"] == "partition"],
        API_TIMEOUT_S,
        what="the partition in GET /api/faults",
    )
    assert partition[0]["groups"] == [["n1", "n2"], ["n3", "n4"], ["n5"]]
    item = page.get_by_test_id("fault-list").locator('li[data-kind="partition"]')
    expect(item).to_contain_text("{n1, n2} | {n3, n4} | {n5}", timeout=UI_TIMEOUT_MS)
    # Walls stand where messages stop, rings show the groups; none inside a group.
    expect(page.locator('[data-wall="n2>n3"]')).to_have_count(1, timeout=UI_TIMEOUT_MS)
    expect(page.locator('[data-wall="n3>n2"]')).to_have_count(1)
    expect(page.locator('[data-wall="n1>n2"]')).to_have_count(0)
    expect(page.locator('.fault-marks-under circle.group-ring[data-node="n3"]')).to_have_attribute(
        "data-group", "1"
    )
    # The nodes really drop what crosses the partition, and the page marks it.
    page.wait_for_function(
        "() => window.clusterlab.faultMarks.faultDrops > 0", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator('g.drop-mark[data-reason="partition"]').first).to_be_attached(
        timeout=UI_TIMEOUT_MS
    )

    item.locator("button").click()  # heal this partition
    wait_until(
        lambda: not [f for f in faults(run_py) if f["kind"] == "partition"],
        API_TIMEOUT_S,
        what="the partition to be healed",
    )
    expect(page.locator("[data-wall]")).to_have_count(0, timeout=UI_TIMEOUT_MS)


def test_right_click_a_link_to_delay_and_lose_its_frames(
    page: Page, run_py: RunPy, healed: None
) -> None:
    unlock(page, run_py.token)
    link = page.locator('#topology-links [data-testid="link-n1-n2"]')
    expect(link).to_be_attached(timeout=UI_TIMEOUT_MS)
    link.click(button="right")
    menu = page.get_by_test_id("fault-menu")
    expect(menu).to_be_visible()
    menu.get_by_test_id("menu-delay_ms").fill("200")
    menu.get_by_test_id("menu-loss").fill("50")
    menu.get_by_test_id("menu-apply").click()

    fault = wait_until(
        lambda: [f for f in faults(run_py) if f["kind"] == "link"],
        API_TIMEOUT_S,
        what="the link fault in GET /api/faults",
    )[0]
    assert (fault["a"], fault["b"], fault["oneway"]) == ("n1", "n2", False)
    assert fault["delay_ms"] == 200 and fault["loss"] == 0.5 and fault["up"] is True
    expect(page.locator('[data-badge="n1>n2"]')).to_have_text(
        "+200 ms · loss 50%", timeout=UI_TIMEOUT_MS
    )
    # Heartbeats cross the link every interval: half of them are lost, and marked.
    expect(page.locator('g.drop-mark[data-reason="loss"]').first).to_be_attached(
        timeout=UI_TIMEOUT_MS
    )

    link.click(button="right")
    menu.get_by_test_id("menu-cut").click()
    wait_until(
        lambda: [f for f in faults(run_py) if f["kind"] == "link" and f["up"] is False],
        API_TIMEOUT_S,
        what="the cut",
    )
    expect(page.locator('[data-wall="n1>n2"]')).to_have_count(1, timeout=UI_TIMEOUT_MS)
    link.click(button="right")
    menu.get_by_test_id("menu-clear").click()
    wait_until(
        lambda: not [f for f in faults(run_py) if f["kind"] == "link"],
        API_TIMEOUT_S,
        what="the link cleared",
    )
    expect(page.locator("[data-badge]")).to_have_count(0, timeout=UI_TIMEOUT_MS)


def test_hold_deliver_one_message_then_stop_holding(
    page: Page, run_py: RunPy, healed: None
) -> None:
    leader = wait_until(lambda: settled_leader(run_py), API_TIMEOUT_S, what="a settled leader")
    unlock(page, run_py.token)
    page.get_by_test_id("hold-toggle").click()
    expect(page.get_by_test_id("hold-state")).to_have_text("on", timeout=UI_TIMEOUT_MS)
    wait_until(lambda: run_py.api("/api/held")["on"], API_TIMEOUT_S, what="hold on")

    url = f"{run_py.url}api/kv/held-in-browser?node={leader}"
    token = {"Authorization": f"Bearer {run_py.token}"}  # a write changes the cluster
    writer = threading.Thread(
        target=lambda: requests.put(url, data=b"v", headers=token, timeout=WRITE_TIMEOUT_S),
        daemon=True,
    )
    writer.start()
    # The write's AppendEntries carry its entry; "empty" ones are ReadIndex
    # rounds for the page's own linearizable reads (the Files panel's).
    rows = page.locator(
        f'[data-testid="held-table"] tr[data-node="{leader}"][data-type="AppendEntries"]'
    ).filter(has_not_text="empty")
    try:
        expect(rows).to_have_count(4, timeout=UI_TIMEOUT_MS)  # one per follower
    except AssertionError as exc:
        raise AssertionError(f"held: {run_py.api('/api/held')}") from exc
    # Each waits in its lane on the topology too.
    expect(page.locator(f'.held-parked g.parked[data-parked^="{leader}>"]')).to_have_count(4)

    chosen = rows.first
    node, seq = chosen.get_attribute("data-node"), chosen.get_attribute("data-id")
    receiver = chosen.get_attribute("data-dst")
    # A reply held at the receiver: before the delivery only ones to a round
    # that crossed SetHold on its way (hold reaches the nodes one by one).
    replies = page.locator(
        f'[data-testid="held-table"] tr[data-node="{receiver}"][data-type="AppendEntriesReply"]'
    )
    replies_before = replies.count()
    chosen.get_by_role("button", name="Deliver").click()
    expect(page.locator(f'[data-testid="held-{node}-{seq}"]')).to_have_count(
        0, timeout=UI_TIMEOUT_MS
    )
    still = [m["id"] for m in run_py.api("/api/held")["messages"] if m["node"] == leader]
    assert len(still) >= 3 and int(seq or 0) not in still  # it left, the others wait
    # The receiver answered: its reply is held at the receiver now.
    expect(replies).to_have_count(replies_before + 1, timeout=UI_TIMEOUT_MS)

    page.get_by_test_id("hold-toggle").click()  # stop holding: everything is released
    expect(page.get_by_test_id("hold-state")).to_have_text("off", timeout=UI_TIMEOUT_MS)
    expect(page.locator('[data-testid="held-table"] tr[data-node]')).to_have_count(
        0, timeout=UI_TIMEOUT_MS
    )
    writer.join(WRITE_TIMEOUT_S)
    assert lab(page, "lab.hold.on") is False
