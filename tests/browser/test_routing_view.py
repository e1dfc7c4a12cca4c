"""The routing view in a real Chromium, on a real line of five nodes.

What only a browser shows: the path from the nodes' own tables is drawn on
the topology, a traced probe is animated hop by hop, the routing table and
the Floyd-Warshall matrix appear, and an instructor's click on a link really
cuts it (the backend's topology and the nodes' tables change).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_testkit import RunPy, lab, wait_until
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

UI_TIMEOUT_MS = 20_000
CLUSTER_UP_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def run_py(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunPy]:
    """This module's cluster: a line n1–n2–n3–n4–n5 (overrides conftest's mesh)."""
    run = RunPy(tmp_path_factory.mktemp("run"), nodes=5, extra_args=("--topology", "line"))
    try:
        run.start()
        wait_until(run.all_up, CLUSTER_UP_TIMEOUT_S, what="all 5 nodes up in /api/cluster")
        wait_until(
            lambda: run.api("/api/routes")["converged"], 30, what="the tables to converge"
        )
        yield run
    finally:
        run.stop()


def test_path_and_trace_are_drawn_hop_by_hop(page: Page, run_py: RunPy) -> None:
    expect(page.get_by_test_id("routing-converged")).to_have_text(
        "converged", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("[data-testid=route-src] option")).to_have_count(5, timeout=UI_TIMEOUT_MS)
    page.get_by_test_id("route-src").select_option("n1")
    page.get_by_test_id("route-dst").select_option("n5")
    page.get_by_test_id("route-show").click()
    expect(page.get_by_test_id("route-path")).to_have_text(
        "n1 → n2 → n3 → n4 → n5", timeout=UI_TIMEOUT_MS
    )
    hops = page.locator("line.path-hop")
    expect(hops).to_have_count(4)
    assert hops.evaluate_all("els => els.map(e => e.dataset.hop)") == [
        "n1>n2", "n2>n3", "n3>n4", "n4>n5",
    ]  # fmt: skip

    # a probe is sent by the cluster: the instructor's button
    expect(page.get_by_test_id("route-trace")).to_be_hidden()
    page.get_by_test_id("token-input").fill(run_py.token)
    page.get_by_test_id("token-submit").click()
    page.get_by_test_id("route-trace").click()
    expect(page.get_by_test_id("trace-summary")).to_contain_text(
        "reached in 4 hops", timeout=UI_TIMEOUT_MS
    )
    expect(page.locator("[data-testid=trace-table] tbody tr")).to_have_count(5)
    # The probe dot walks the four hops, one after the other.
    page.wait_for_function(
        "() => window.clusterlab.routing.probeHopsAnimated === 4", timeout=UI_TIMEOUT_MS
    )


def test_table_and_matrix_of_a_selected_node(page: Page) -> None:
    expect(page.get_by_test_id("routing-converged")).to_have_text(
        "converged", timeout=UI_TIMEOUT_MS
    )
    page.locator('#topology [data-node="n3"]').click()
    expect(page.get_by_test_id("route-table-node")).to_have_text("n3")
    rows = page.locator("[data-testid=route-table] tbody tr")
    expect(rows).to_have_count(4, timeout=UI_TIMEOUT_MS)
    expect(page.locator('[data-testid=route-table] tr[data-dst="n1"] td').nth(1)).to_have_text("n2")
    page.get_by_test_id("fw").locator("summary").click()
    expect(page.locator('[data-cell="n1>n5"]')).to_contain_text("4")
    assert lab(page, "lab.routing.routes.difference_count") == 0


def test_an_instructor_click_cuts_and_restores_a_link(page: Page, run_py: RunPy) -> None:
    page.get_by_test_id("token-input").fill(run_py.token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)
    link = page.get_by_test_id("link-n3-n4")
    expect(link).to_have_attribute("data-cut", "false", timeout=UI_TIMEOUT_MS)
    # force: a horizontal line has a zero-height box, which Playwright calls
    # invisible; the mouse still clicks the middle of its 22 px wide stroke.
    link.locator("line.link-hit").click(force=True)
    expect(link).to_have_attribute("data-cut", "true", timeout=UI_TIMEOUT_MS)
    cut = [x for x in run_py.api("/api/topology")["links"] if (x["a"], x["b"]) == ("n3", "n4")]
    assert cut[0]["up"] is False
    # n1 learns that n5 is gone: the route now stops at n1.
    page.get_by_test_id("route-src").select_option("n1")
    page.get_by_test_id("route-dst").select_option("n5")

    def says_no_route() -> bool:
        page.get_by_test_id("route-show").click()
        page.wait_for_timeout(300)
        return "no route" in page.get_by_test_id("route-result").inner_text()

    wait_until(says_no_route, 20, what="the page to show no route after the cut")
    link.locator("line.link-hit").click(force=True)
    expect(link).to_have_attribute("data-cut", "false", timeout=UI_TIMEOUT_MS)
    wait_until(
        lambda: run_py.api("/api/route?src=n1&dst=n5")["reached"], 20, what="the way back"
    )
