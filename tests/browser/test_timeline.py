"""The timeline, the explanations and read-only viewers, in a real Chromium on a real cluster.

What a student sees: one lane per node with arrows between them; pausing
stops the picture and scrubbing shows another moment; hovering an arrow
reads the message; an imported history replays under a banner; and a page
without the instructor token shows no control that could change anything,
and sends no request that could.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from browser_testkit import RunPy, lab, wait_until
from playwright.sync_api import Page, Request, expect

UI_TIMEOUT_MS = 30_000
# A pause loads up to 100,000 recorded events; two busy cores parse them slowly.
LOAD_TIMEOUT_S = 60.0
NODES = ["n1", "n2", "n3", "n4", "n5"]
READ_METHODS = {"GET", "HEAD"}
# A scrolled picture is compared with a whole redraw after this many strips,
# and may differ from it (by more than anti-aliasing) in this share of pixels.
STRIPS_BEFORE_CHECK = 5
SHARE_THAT_MAY_DIFFER = 0.0005


def timeline(page: Page) -> Any:
    return lab(page, "lab.timeline.state()")


def wait_for_arrows(page: Page) -> Any:
    return wait_until(
        lambda: (s := timeline(page))["arrowsDrawn"] > 0 and s["lanes"] == NODES and s,
        30,
        what="the timeline to draw five lanes and some arrows",
    )


def pause(page: Page) -> Any:
    page.get_by_test_id("timeline-pause").click()
    return wait_until(
        lambda: (s := timeline(page))["mode"] == "paused" and not s["loading"] and s,
        LOAD_TIMEOUT_S,
        what="the recorded history to load",
    )


def test_the_timeline_draws_a_lane_per_node_and_arrows_between_them(
    page: Page, run_py: RunPy
) -> None:
    state = wait_for_arrows(page)
    assert state["mode"] == "live"
    # every send carries its message's canonical text: what hovering shows
    reply = requests.get(run_py.url + "api/history?types=MsgSent&limit=50", timeout=10)
    sends = [json.loads(line) for line in reply.text.splitlines()]
    assert sends and all(e["text"].startswith(f"{e['src']}→{e['dst']} ") for e in sends)
    assert all("|" in i and ">" in i for i in state["drawnIds"])
    # live: the window follows the clock
    later = wait_until(
        lambda: (s := timeline(page))["windowEndMs"] > state["windowEndMs"] + 200 and s,
        10,
        what="the live window to move on",
    )
    assert later["windowEndMs"] - later["windowStartMs"] == 5000


def test_the_live_timeline_scrolls_its_picture_and_paints_only_the_newest_strip(
    page: Page,
) -> None:
    """A live frame copies the painted pixels left and paints only the time
    that came into view (docs/dashboard.md): most frames on a quiet cluster,
    and the result looks the same as the window painted whole."""
    before = wait_for_arrows(page)
    page.wait_for_timeout(4000)
    after = timeline(page)
    strips = after["stripDraws"] - before["stripDraws"]
    wholes = after["fullDraws"] - before["fullDraws"]
    assert strips >= 10 and strips >= 4 * wholes, f"{strips} strip frames, {wholes} whole ones"

    # compare a picture built from several strips with the same frame painted
    # whole (the page does both in one task, so no event comes in between)
    def checked() -> Any:
        lab(page, "lab.timeline.checkScrolled()")
        check = wait_until(lambda: timeline(page)["check"], 10, what="a scrolled frame")
        return check["stripsSinceFull"] >= STRIPS_BEFORE_CHECK and check

    check = wait_until(checked, 30, interval_s=0.5, what="a frame after several strips")
    # a missing or misplaced arrow or label would differ in hundreds of pixels
    assert check["differing"] <= SHARE_THAT_MAY_DIFFER * check["pixels"], check


def test_pause_and_scrub_change_what_is_shown_and_hover_reads_the_message(page: Page) -> None:
    wait_for_arrows(page)
    # Scrubbing to the middle with a 1 s window must land before the paused
    # 5 s window; a recording shorter than 12 s would make the two overlap.
    wait_until(
        lambda: (s := timeline(page))["windowEndMs"] - s["recordedFromMs"] >= 12_000,
        30,
        what="twelve seconds of recording",
    )
    paused = pause(page)
    # paused: the picture no longer moves by itself
    page.wait_for_timeout(800)
    assert timeline(page)["windowEndMs"] == paused["windowEndMs"]

    # hover an arrow: its canonical text form
    point = wait_until(lambda: lab(page, "lab.timeline.arrowPoint(0)"), 10, what="a drawn arrow")
    page.mouse.move(point["x"], point["y"])
    tip = page.get_by_test_id("timeline-tip")
    expect(tip).to_be_visible(timeout=UI_TIMEOUT_MS)
    text = tip.inner_text()
    assert "→" in text and "hop " in text and "flight" in text

    # scrub back: another moment, other arrows
    page.get_by_test_id("timeline-window").select_option("1000")
    page.get_by_test_id("timeline-slider").fill("5000")
    # ...and the recorded history under the new window to have loaded (a
    # segment is fetched when the window first needs it)
    scrubbed = wait_until(
        lambda: (s := timeline(page))["windowEndMs"] < paused["windowEndMs"] - 1000
        and not s["loading"]
        and s,
        10,
        what="the slider to move the window back",
    )
    assert scrubbed["windowEndMs"] - scrubbed["windowStartMs"] == 1000
    assert scrubbed["windowEndMs"] <= paused["windowStartMs"]
    assert scrubbed["arrowsDrawn"] > 0
    assert scrubbed["drawnIds"] != paused["drawnIds"]

    # play: the window moves forward again, at real pace
    page.get_by_test_id("timeline-play").click()
    wait_until(
        lambda: timeline(page)["windowEndMs"] > scrubbed["windowEndMs"] + 300,
        10,
        what="Play to move the window forward",
    )
    page.get_by_test_id("timeline-pause").click()  # "Live"
    wait_until(lambda: timeline(page)["mode"] == "live", 10, what="back to live")


def test_every_panel_explains_itself(page: Page) -> None:
    for name in ("topology", "nodes", "raft", "kv", "routing", "timeline"):
        explainer = page.get_by_test_id(f"explain-{name}")
        expect(explainer).to_be_visible(timeout=UI_TIMEOUT_MS)
        body = explainer.locator(".explain-body")
        expect(body).to_be_hidden()
        explainer.locator("summary").click()
        expect(body).to_be_visible()
        sentences = body.inner_text().count(". ") + 1
        assert 2 <= sentences <= 6, f"{name}: {body.inner_text()!r}"


def test_a_viewer_without_the_token_sees_no_control_and_sends_nothing_that_changes(
    page: Page, run_py: RunPy
) -> None:
    changing: list[str] = []

    def watch(request: Request) -> None:
        if request.method not in READ_METHODS:
            changing.append(f"{request.method} {request.url}")

    page.on("request", watch)
    expect(page.locator("#topology [data-node]")).to_have_count(5, timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("mode")).to_have_text("View-only")
    faults = ("kill", "restart", "pause", "resume")
    hidden = [f"{action}-{node}" for action in faults for node in NODES]
    hidden += ["members-add", "kv-put", "kv-delete", "kv-value", "route-trace",
               "timeline-import", "timeline-back-to-live"]  # fmt: skip
    for testid in hidden:
        expect(page.get_by_test_id(testid).first).to_be_hidden()
    # the convention every panel follows (docs/dashboard.md), however many there are
    assert lab(page, "[...document.querySelectorAll('[data-needs-token]')]"
                     ".filter((e) => e.offsetParent !== null).length") == 0  # fmt: skip

    # everything a viewer may do: look back in time, export, read a key
    wait_for_arrows(page)
    pause(page)
    page.get_by_test_id("timeline-slider").fill("3000")
    page.get_by_test_id("timeline-play").click()
    page.get_by_test_id("timeline-pause").click()
    page.get_by_test_id("kv-key").fill("anything")
    page.get_by_test_id("kv-get").click()
    expect(page.get_by_test_id("kv-result")).to_have_attribute(
        "data-status", "404", timeout=UI_TIMEOUT_MS
    )
    assert changing == []

    # and the backend refuses whatever the page did not show
    for method, path in [("POST", "/api/faults"), ("PUT", "/api/kv/x"), ("POST", "/api/trace")]:
        reply = requests.request(method, run_py.url + path.lstrip("/"), json={}, timeout=10)
        assert reply.status_code == 401

    # the same page with the token shows the controls: the test above could fail
    page.get_by_test_id("token-input").fill(run_py.token)
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("kill-n1")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("kv-put")).to_be_visible()


def test_an_imported_history_replays_under_a_banner(page: Page, run_py: RunPy) -> None:
    t0 = 1_700_000_000_000.0
    saved = [
        {"type": "RaftState", "node": "n8", "t_ms": t0, "role": "leader", "term": 4, "vote": "n8",
         "leader": "n8", "commit_index": 1, "last_applied": 1, "log_length": 1,
         "snapshot_index": 0, "voters": ["n8", "n9"], "election_elapsed_ticks": 0,
         "election_timeout_ticks": 10, "fsync": "off"},
        {"type": "MsgSent", "node": "n8", "t_ms": t0 + 100, "src": "n8", "dst": "n9", "seq": 1,
         "kind": "AppendEntries", "to": "n9", "size_bytes": 90,
         "text": "n8→n9 AppendEntries t4 i1..1 c1"},
        {"type": "MsgReceived", "node": "n9", "t_ms": t0 + 300, "src": "n8", "dst": "n9", "seq": 1,
         "kind": "AppendEntries", "frm": "n8", "size_bytes": 90},
    ]  # fmt: skip
    body = "".join(json.dumps(e) + "\n" for e in saved)
    auth = {"Authorization": f"Bearer {run_py.token}"}
    wait_for_arrows(page)
    url = run_py.url + "api/history/import?name=old-lecture.jsonl"
    reply = requests.post(url, data=body, headers=auth, timeout=10)
    assert reply.status_code == 200, reply.text
    try:
        banner = page.get_by_test_id("timeline-banner")
        expect(banner).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(banner).to_contain_text("REPLAY of old-lecture.jsonl")
        state = wait_until(
            lambda: (s := timeline(page))["mode"] == "replay" and s["arrowsDrawn"] == 1 and s,
            LOAD_TIMEOUT_S,
            what="the replay to be drawn",
        )
        assert state["lanes"] == ["n8", "n9"]
        assert state["drawnIds"] == ["n8#1|n8>n9"]
    finally:
        requests.delete(run_py.url + "api/history/import", headers=auth, timeout=10)
    expect(page.get_by_test_id("timeline-banner")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    wait_until(lambda: timeline(page)["mode"] == "live", 10, what="back to live")
