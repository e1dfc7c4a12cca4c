"""The file views in a real Chromium, on a real five-node cluster.

What only a browser shows: a file chosen in the page's picker (or dropped
on it) is streamed by the page to the backend, cut into chunks, replicated
to RF real node processes, and then appears in the page's file list, in the
placement table (every replica healthy), as dots on the hash ring (hovering
one names its sha256 and replicas); the strategy comparison is drawn as bars;
the instructor's placement form really changes the cluster's strategy; a
killed replica holder turns its replicas "down" in the table.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser_testkit import RunPy, lab, wait_until
from playwright.sync_api import Page, expect

# The first test also starts the module's cluster; on a shared 2-core machine
# that and an upload with replication can take minutes.
pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Generous: the page, five nodes and the backend share two busy cores.
UI_TIMEOUT_MS = 30_000
HTTP_TIMEOUT_S = 30.0
LEADER_TIMEOUT_S = 60.0
MIB = 1 << 20
CHUNK_BYTES_DEFAULT = MIB  # files.chunk_bytes (docs/files contract)
# files.repair_grace_s is 10 s; then every chunk is copied to a live node.
REPAIR_TIMEOUT_MS = 60_000


def unlock(page: Page, run_py: RunPy) -> None:
    """Instructor mode, once the cluster has a leader (an upload needs one to commit)."""
    wait_until(lambda: run_py.cluster().get("leader"), LEADER_TIMEOUT_S, what="a leader")
    # Before main.js has run, the token form would be submitted by the browser.
    page.wait_for_function("() => window.clusterlab?.ready === true", timeout=UI_TIMEOUT_MS)
    page.get_by_test_id("token-input").fill(run_py.token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("mode")).to_have_text("Instructor", timeout=UI_TIMEOUT_MS)


def placement(run_py: RunPy, name: str) -> dict[str, Any]:
    found: dict[str, Any] = run_py.api(f"/api/files/{name}/placement")
    return found


def delete_file(run_py: RunPy, name: str) -> None:
    requests.delete(
        f"{run_py.url}api/files/{name}",
        headers={"Authorization": f"Bearer {run_py.token}"},
        timeout=HTTP_TIMEOUT_S,
    )


@pytest.fixture
def random_file(tmp_path: Path) -> Iterator[Path]:
    """2.5 MiB of random bytes: three chunks, the last one short."""
    path = tmp_path / "lecture-notes.bin"
    path.write_bytes(os.urandom(CHUNK_BYTES_DEFAULT * 5 // 2))
    yield path


def test_a_picked_file_is_uploaded_listed_placed_and_drawn(
    page: Page, run_py: RunPy, random_file: Path
) -> None:
    name = random_file.name
    unlock(page, run_py)
    page.get_by_test_id("file-input").set_input_files(str(random_file))
    expect(page.get_by_test_id("upload-status")).to_contain_text(
        f"Uploaded {name}", timeout=UI_TIMEOUT_MS
    )
    try:
        # The backend agrees: three chunks, each with RF = 3 distinct replicas.
        meta = placement(run_py, name)
        chunks = meta["chunks"]
        assert len(chunks) == 3
        assert all(len(set(c["replicas"])) == 3 for c in chunks)

        # The list: size, version, healthy.
        row = page.locator(f'[data-testid=file-list] tr[data-file="{name}"]')
        expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(row.locator(".file-size")).to_have_text("2.5 MiB")
        expect(row.locator(".health")).to_have_attribute("data-health", "ok", timeout=UI_TIMEOUT_MS)

        # The placement table: file → chunks → replicas, each replica healthy,
        # the same nodes as the backend says, primary first.
        expect(page.get_by_test_id("placement-file")).to_have_text(name, timeout=UI_TIMEOUT_MS)
        table_rows = page.locator("[data-testid=placement-table] tbody tr")
        expect(table_rows).to_have_count(3, timeout=UI_TIMEOUT_MS)
        for chunk in chunks:
            table_row = page.locator(
                f'[data-testid=placement-table] tr[data-sha="{chunk["sha256"]}"]'
            )
            replicas = table_row.locator("span.replica:not([data-health=planned])")
            expect(replicas).to_have_count(3)
            assert replicas.evaluate_all("els => els.map(e => e.dataset.node)") == chunk["replicas"]
            expect(table_row.locator('span.replica[data-health="ok"]')).to_have_count(3)
        expect(page.get_by_test_id("under-replicated")).to_have_attribute("data-count", "0")

        # The ring: one tick path per node, every chunk a dot, hover names it.
        expect(page.locator("svg.ring g.ring-ticks path.token")).to_have_count(
            5, timeout=UI_TIMEOUT_MS
        )
        assert lab(page, "lab.ring.ticksDrawn") == 5 * meta["placement"]["vnodes"]
        first = chunks[0]["sha256"]
        dot = page.locator(f'svg.ring circle.chunk[data-sha="{first}"]').first
        expect(dot).to_be_attached(timeout=UI_TIMEOUT_MS)
        dot.hover(force=True)
        tooltip = page.get_by_test_id("ring-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text(first[:16])
        expect(tooltip).to_contain_text(f"{chunks[0]['replicas'][0]} (primary)")

        # The comparison: three strategies, moved-on-join/leave and balance bars.
        chart = page.get_by_test_id("compare-chart")
        expect(chart.locator("rect.bar")).to_have_count(9, timeout=UI_TIMEOUT_MS)
        modulo_join = chart.locator('g.moved rect.bar[data-strategy="modulo"][data-kind="join"]')
        consistent_join = chart.locator(
            'g.moved rect.bar[data-strategy="consistent"][data-kind="join"]'
        )
        # Measured, not drawn from a formula: modulo moves more than consistent hashing.
        assert float(modulo_join.get_attribute("data-value") or 0) > float(
            consistent_join.get_attribute("data-value") or 1
        )

        # The download link serves the same bytes.
        href = row.locator("a.download").get_attribute("href")
        assert href
        body = requests.get(run_py.url + href.lstrip("/"), timeout=HTTP_TIMEOUT_S).content
        assert (
            hashlib.sha256(body).hexdigest() == hashlib.sha256(random_file.read_bytes()).hexdigest()
        )
    finally:
        delete_file(run_py, name)


def test_a_dropped_file_is_uploaded_and_deleted_from_the_page(page: Page, run_py: RunPy) -> None:
    unlock(page, run_py)
    name = "dropped.txt"
    # What a real drag from the desktop delivers: a drop event carrying a File.
    data_transfer = page.evaluate_handle(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["hello, distributed world\\n".repeat(1000)], "dropped.txt"));
            return dt;
        }"""
    )
    page.get_by_test_id("file-drop").dispatch_event("drop", {"dataTransfer": data_transfer})
    row = page.locator(f'[data-testid=file-list] tr[data-file="{name}"]')
    expect(row).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert lab(page, "lab.uploads.last.name") == name
    assert any(f["name"] == name for f in files_listed(run_py))

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_test_id(f"delete-{name}").click()
    expect(row).to_have_count(0, timeout=UI_TIMEOUT_MS)
    assert not any(f["name"] == name for f in files_listed(run_py))


def files_listed(run_py: RunPy) -> list[dict[str, Any]]:
    body = run_py.api("/api/files")
    listed: list[dict[str, Any]] = body["files"] if isinstance(body, dict) else body
    return listed


def test_view_only_visitors_see_files_but_cannot_upload(page: Page) -> None:
    expect(page.get_by_test_id("files-panel")).to_be_attached()
    expect(page.get_by_test_id("file-drop")).to_contain_text("Unlock the instructor controls")
    expect(page.locator(".file-pick")).to_be_hidden()
    expect(page.get_by_test_id("placement-apply")).to_be_hidden()
    # Every new panel explains itself.
    for testid in ("explain-files", "explain-ring", "explain-compare"):
        explainer = page.get_by_test_id(testid)
        explainer.locator("summary").click()
        expect(explainer.locator(".explain-body")).to_be_visible()


def test_the_placement_form_switches_the_strategy(page: Page, run_py: RunPy) -> None:
    unlock(page, run_py)
    expect(page.get_by_test_id("ring-panel")).to_have_attribute(
        "data-strategy", "consistent", timeout=UI_TIMEOUT_MS
    )
    page.get_by_test_id("placement-strategy").select_option("modulo")
    page.get_by_test_id("placement-apply").click()
    try:
        expect(page.get_by_test_id("placement-result")).to_contain_text(
            "Placement version", timeout=UI_TIMEOUT_MS
        )
        assert run_py.api("/api/placement")["strategy"] == "modulo"
        # Modulo has no ring: five equal buckets, labelled, and the sentence says so.
        expect(page.get_by_test_id("ring-panel")).to_have_attribute(
            "data-strategy", "modulo", timeout=UI_TIMEOUT_MS
        )
        expect(page.locator("svg.ring g.ring-sectors text")).to_have_count(5)
        expect(page.get_by_test_id("ring-caption")).to_contain_text("hash mod N")
    finally:
        requests.put(
            f"{run_py.url}api/placement",
            json={"strategy": "consistent"},
            headers={"Authorization": f"Bearer {run_py.token}"},
            timeout=HTTP_TIMEOUT_S,
        )
    expect(page.get_by_test_id("ring-panel")).to_have_attribute(
        "data-strategy", "consistent", timeout=UI_TIMEOUT_MS
    )


def test_a_killed_replica_holder_shows_as_down_then_comes_back(
    page: Page, run_py: RunPy, random_file: Path
) -> None:
    name = random_file.name
    unlock(page, run_py)
    page.get_by_test_id("file-input").set_input_files(str(random_file))
    expect(page.get_by_test_id("upload-status")).to_contain_text(
        f"Uploaded {name}", timeout=UI_TIMEOUT_MS
    )
    victim = placement(run_py, name)["chunks"][0]["replicas"][0]
    try:
        page.get_by_test_id(f"kill-{victim}").click()
        down = page.locator(
            f'[data-testid=placement-table] span.replica[data-node="{victim}"][data-health="down"]'
        )
        expect(down.first).to_be_visible(timeout=UI_TIMEOUT_MS)
        count = page.get_by_test_id("under-replicated")
        expect(count).not_to_have_attribute("data-count", "0", timeout=UI_TIMEOUT_MS)
        expect(
            page.locator(f'[data-testid=file-list] tr[data-file="{name}"] .health')
        ).to_have_attribute("data-health", "degraded", timeout=UI_TIMEOUT_MS)
        # Views never ask per event: a handful of refreshes, not hundreds.
        assert lab(page, "lab.files.counts.refreshes") < 60
        # After the grace period the leader re-replicates: the copies blink as
        # they land and the under-replicated count returns to zero.
        expect(count).to_have_attribute("data-count", "0", timeout=REPAIR_TIMEOUT_MS)
        assert lab(page, "lab.files.counts.repairsSeen") > 0
    finally:
        page.get_by_test_id(f"restart-{victim}").click()
        wait_until(run_py.all_up, 60, what=f"{victim} up again")
        delete_file(run_py, name)
