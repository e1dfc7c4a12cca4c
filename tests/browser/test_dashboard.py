"""The dashboard as a user meets it: a real cluster, a real Chromium, real clicks.

What only a browser shows: that the page really connects over WebSocket,
draws the nodes the backend reports, hides the fault buttons from students,
and that a click on "kill" really kills a node process (the page and
``GET /api/cluster`` agree, and the old pid is gone).
"""

from __future__ import annotations

import pytest
from browser_testkit import PageLog, RunPy, lab, pid_alive, wait_until
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

# Generous: the page, five nodes and the backend share two cores.
UI_TIMEOUT_MS = 20_000
NODE_IDS = ["n1", "n2", "n3", "n4", "n5"]


def unlock(page: Page, token: str) -> None:
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)


def test_page_connects_over_the_websocket_transport(page: Page) -> None:
    page.wait_for_function(
        "() => window.clusterlab && window.clusterlab.connection === 'connected'",
        timeout=UI_TIMEOUT_MS,
    )
    assert lab(page, "lab.transportName()") == "websocket"
    status = page.get_by_test_id("status-connection")
    expect(status).to_have_attribute("data-transport", "websocket", timeout=UI_TIMEOUT_MS)
    expect(status).to_contain_text("websocket")


def test_five_nodes_are_drawn_and_become_up(page: Page, run_py: RunPy) -> None:
    nodes = page.locator("#topology [data-node]")
    expect(nodes).to_have_count(5, timeout=UI_TIMEOUT_MS)
    expect(page.locator('#topology [data-node][data-state="up"]')).to_have_count(
        5, timeout=UI_TIMEOUT_MS
    )
    assert sorted(nodes.evaluate_all("els => els.map(e => e.dataset.node)")) == NODE_IDS
    # The node table shows each node's real pid, as the backend knows it.
    for node in run_py.cluster()["nodes"]:
        expect(page.locator(f'#node-rows tr[data-row="{node["id"]}"] .cell-pid')).to_have_text(
            str(node["pid"]), timeout=UI_TIMEOUT_MS
        )


def test_without_a_token_the_page_is_view_only(page: Page) -> None:
    expect(page.locator('#topology [data-node][data-state="up"]')).to_have_count(
        5, timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_test_id("mode")).to_have_text("View-only")
    buttons = page.locator("button[data-action]")
    assert buttons.count() == 20  # 4 per node, in the DOM but not shown
    for i in range(buttons.count()):
        expect(buttons.nth(i)).to_be_hidden()


def test_a_wrong_token_is_refused(page: Page) -> None:
    expect(page.locator("#topology [data-node]")).to_have_count(5, timeout=UI_TIMEOUT_MS)
    page.get_by_test_id("token-input").fill("not-the-token")
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("notice")).to_have_text("Wrong token.", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("mode")).to_have_text("View-only")
    expect(page.get_by_test_id("kill-n2")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_kill_marks_the_node_down_and_restart_brings_it_back(
    page: Page, run_py: RunPy, page_log: PageLog
) -> None:
    n2 = page.locator('#topology [data-node="n2"]')
    expect(n2).to_have_attribute("data-state", "up", timeout=UI_TIMEOUT_MS)
    old_pid = run_py.node("n2")["pid"]
    unlock(page, run_py.token)

    page.get_by_test_id("kill-n2").click()
    expect(n2).to_have_attribute("data-state", "down", timeout=UI_TIMEOUT_MS)
    assert run_py.node("n2")["state"] == "down"
    wait_until(lambda: not pid_alive(old_pid), what=f"n2's process {old_pid} to be gone")
    # The other nodes are untouched.
    expect(page.locator('#topology [data-node][data-state="up"]')).to_have_count(4)

    page.get_by_test_id("restart-n2").click()
    expect(n2).to_have_attribute("data-state", "up", timeout=UI_TIMEOUT_MS)
    restarted = wait_until(
        lambda: (n := run_py.node("n2"))["state"] == "up" and n, what="n2 up in /api/cluster"
    )
    assert restarted["pid"] != old_pid and pid_alive(restarted["pid"])

    # The token travelled in headers only, never in a URL.
    assert page_log.request_urls, "the page made no requests?"
    assert not [u for u in page_log.request_urls if run_py.token in u]
    assert run_py.token not in page.url


def test_the_token_is_kept_for_the_tab_and_checked_again(page: Page, run_py: RunPy) -> None:
    unlock(page, run_py.token)
    page.reload()
    # Asked once: after a reload the page unlocks itself from sessionStorage.
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("kill-n3")).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.get_by_test_id("token-forget").click()
    expect(page.get_by_test_id("kill-n3")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0


def test_heartbeats_flow_as_messages_and_dots(page: Page) -> None:
    page.wait_for_function(
        "() => window.clusterlab && window.clusterlab.topology", timeout=UI_TIMEOUT_MS
    )
    before = lab(page, "({events: lab.eventsReceived, hops: lab.topology.hopsJoined,"
                       " dots: lab.topology.dotsDrawn})")
    # Heartbeats go out every 500 ms on each of 20 directed links: within a
    # few seconds dozens of hops must have been joined and drawn.
    page.wait_for_function(
        f"""() => {{
            const lab = window.clusterlab;
            return lab.eventsReceived >= {before['events']} + 100
                && lab.topology.hopsJoined >= {before['hops']} + 20
                && lab.topology.dotsDrawn >= {before['dots']} + 20;
        }}""",
        timeout=UI_TIMEOUT_MS,
    )
    # Each node sends its heartbeats on all its links at once, every 500 ms,
    # and a busy machine may bring the first 100 events before any of them:
    # wait for the kind rather than assume it came with those.
    page.wait_for_function(
        """() => [...document.querySelectorAll("#legend .legend-item")]
                 .some((item) => item.textContent === "Heartbeat")""",
        timeout=UI_TIMEOUT_MS,
    )
    # The status bar shows the hub's message rate once its first stats arrive.
    page.wait_for_function(
        "() => (window.clusterlab.stats?.msgs_per_s ?? 0) > 0", timeout=UI_TIMEOUT_MS
    )
    expect(page.get_by_test_id("status-msgs")).not_to_have_text("—")
    expect(page.get_by_test_id("status-msgs")).not_to_have_text("0")


def test_traffic_rows_reach_the_views_as_the_documented_objects(page: Page) -> None:
    # The hub sends traffic events as rows (docs/telemetry.md, Transport);
    # every view must still get objects with exactly the documented fields.
    page.wait_for_function("() => window.clusterlab && window.clusterlab.ready")
    page.evaluate(
        """async () => {
            const state = await import("/static/js/state.js");  // the page's own module instance
            window.seenTraffic = {};
            state.subscribe("events", (events) => {
                for (const e of events) window.seenTraffic[e.type] ??= e;
            });
        }"""
    )
    page.wait_for_function(
        "() => window.seenTraffic.MsgSent && window.seenTraffic.MsgReceived",
        timeout=UI_TIMEOUT_MS,
    )
    sent = page.evaluate("() => window.seenTraffic.MsgSent")
    received = page.evaluate("() => window.seenTraffic.MsgReceived")
    assert list(sent) == [
        "type", "node", "t_ms", "src", "dst", "seq", "kind", "to", "size_bytes", "text",
    ]  # fmt: skip
    assert list(received) == [
        "type", "node", "t_ms", "src", "dst", "seq", "kind", "frm", "size_bytes",
    ]  # fmt: skip
    assert sent["type"] == "MsgSent" and isinstance(sent["seq"], int) and sent["text"]
    assert isinstance(received["t_ms"], float | int) and received["frm"] != received["node"]
