"""Fifty read-only viewers on one cluster: does the dashboard stay responsive?

A lecture means one instructor and a room of students watching the same
backend. The instructor's page (it holds the token) gets every event; a
viewer gets every state event and a capped sample of the traffic
(backend/viewer_stream.py), one batch per tick for the whole room. This
bench starts a real ``run.py`` with a real load (``POST /api/load``),
connects 0, 1 and then 50 Socket.IO viewers (bench/viewer_client.py: the
page's protocol, acknowledgements included, without a browser), and for each
step measures over MEASURE_S:

* ``event_latency_ms_p50/p99``: node event → viewer (``now − t_ms``, one
  machine, one clock), over every event every viewer received;
* ``emit_to_viewer_ms_p50/p99``: the hub's emit → viewer: what the fan-out
  itself adds;
* ``events_per_s_per_viewer`` next to ``hub_events_per_s``: how much of the
  stream each viewer got (the hub sheds traffic events rather than send them
  late, and skips a viewer that has not acknowledged its last batches);
  ``viewer_traffic_sampled_fraction``: the share of the traffic events that
  the sample kept (1.0 = every message), from the viewers' own counts and
  the ``traffic_left_out`` of each batch; ``kbytes_per_s_per_viewer``;
* ``backend_cpu_cores``: the run.py process (hub, Socket.IO, REST);
  ``viewers_cpu_cores``: this bench's own viewer processes, which share the
  machine and so weigh on every other figure;
* ``page_*``: the instructor's own dashboard, a real headless Chromium tab
  open through every step, unlocked with the token like a real instructor's
  (``page_role`` says what the server made of it), read from the page's own
  counters: is the page the instructor projects still live?

A step written ``50f`` connects viewers that present the token: every one
gets the full stream, as every page did before the viewers' sample (issue
#6). Interleaving ``--viewers 50,50f,50,50f`` compares the two on one run,
which survives a noisy machine better than two runs.

Viewers run in VIEWER_PROCESSES processes so that one Python's GIL is not
what is measured. Run: ``.venv/bin/python -m bench.viewers`` (JSON on stdout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page

from bench.browser import chromium, lab, open_dashboard
from bench.machine import machine
from bench.run_process import RunPy, cpu_seconds, descendants_of, progress
from bench.viewer_client import Viewer, ViewerStats, percentile_ms

DEFAULT_VIEWER_STEPS = (0, 1, 50)
# Per node: 5 nodes x 200 msgs/s x 2 events + ~1,000 events/s of heartbeats,
# Raft and routing = ~3,000 events/s, a busy lecture demo, not a stress test.
DEFAULT_LOAD_MSGS_PER_S = 200
DEFAULT_NODES = 5
VIEWER_PROCESSES = 5
WARMUP_S = 3.0
MEASURE_S = 10.0
CONNECT_TIMEOUT_S = 60.0
HTTP_TIMEOUT_S = 10.0
UNLOCK_TIMEOUT_MS = 20_000


def _viewer_worker(
    url: str, token: str, count: int, record: Any, stop: Any, connected: Any, results: Any
) -> None:
    """One process's share of the viewers (multiprocessing target)."""
    viewers = [Viewer(url, token) for _ in range(count)]
    try:
        for viewer in viewers:
            viewer.connected.wait(CONNECT_TIMEOUT_S)
        connected.put(sum(v.connected.is_set() for v in viewers))
        record.wait()
        for viewer in viewers:
            viewer.recording = True
        stop.wait()
        for viewer in viewers:
            viewer.recording = False
        total = ViewerStats()
        for viewer in viewers:
            total.add(viewer.stats)
        results.put(asdict(total))
    finally:
        for viewer in viewers:
            viewer.close()


def _stats(run: RunPy) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(run.url + "api/stats", timeout=HTTP_TIMEOUT_S).json()
    return answer


def _page_counts(page: Page | None) -> tuple[int, list[int]]:
    if page is None:
        return 0, []
    answer: dict[str, Any] = lab(
        page, "({events: lab.eventsReceived, histogram: Array.from(lab.latencyHistogram)})"
    )
    return int(answer["events"]), list(answer["histogram"])


def unlock(page: Page, token: str) -> str | None:
    """Unlock the page's instructor controls as a person would; the server's verdict.

    ``None`` from a page that does not show which stream it gets (before issue #6).
    """
    page.get_by_test_id("token-input").fill(token)
    page.get_by_test_id("token-submit").click()
    role: str | None = page.wait_for_function(
        """() => {
            const cell = document.querySelector('[data-testid="status-stream"]');
            if (!document.body.classList.contains("instructor")) return false;
            return cell ? cell.dataset.role === "instructor" && "instructor" : "unknown";
        }""",
        timeout=UNLOCK_TIMEOUT_MS,
    ).json_value()
    return None if role == "unknown" else role


def measure_step(
    run: RunPy, viewers: int, page: Page | None = None, full_stream: bool = False
) -> dict[str, Any]:
    """One step: ``viewers`` connected (with the token if ``full_stream``)."""
    ctx = multiprocessing.get_context("spawn")
    token = run.token if full_stream else ""
    record, stop = ctx.Event(), ctx.Event()
    connected, results = ctx.Queue(), ctx.Queue()
    shares = [viewers // VIEWER_PROCESSES + (i < viewers % VIEWER_PROCESSES)
              for i in range(VIEWER_PROCESSES)]  # fmt: skip
    workers = [
        ctx.Process(
            target=_viewer_worker, args=(run.url, token, n, record, stop, connected, results)
        )
        for n in shares
        if n > 0
    ]
    for worker in workers:
        worker.start()
    try:
        joined = sum(connected.get(timeout=CONNECT_TIMEOUT_S) for _ in workers)
        if joined < viewers:
            raise RuntimeError(f"only {joined} of {viewers} viewers connected")
        time.sleep(WARMUP_S)
        backend = {run.pid}
        nodes = descendants_of(run.pid)
        ours = {w.pid for w in workers if w.pid is not None}
        before = (cpu_seconds(backend), cpu_seconds(nodes), cpu_seconds(ours), time.monotonic())
        hub_before = _stats(run)
        page_before = _page_counts(page)
        record.set()
        time.sleep(MEASURE_S)
        stop.set()
        after = (cpu_seconds(backend), cpu_seconds(nodes), cpu_seconds(ours), time.monotonic())
        hub_after = _stats(run)
        page_after = _page_counts(page)
        total = ViewerStats()
        for _ in workers:
            total.add(ViewerStats(**results.get(timeout=CONNECT_TIMEOUT_S)))
    finally:
        record.set()
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    elapsed_s = after[3] - before[3]

    def per_viewer(count: float) -> float | None:
        return round(count / elapsed_s / viewers, 1) if viewers else None

    offered = total.traffic_events + total.traffic_left_out
    sampled = hub_after.get("viewer_stream", {})
    return {
        "viewers": viewers,
        "viewers_hold_token": full_stream,
        "backend_cpu_cores": round((after[0] - before[0]) / elapsed_s, 3),
        "nodes_cpu_cores": round((after[1] - before[1]) / elapsed_s, 3),
        "viewers_cpu_cores": round((after[2] - before[2]) / elapsed_s, 3),
        "hub_events_per_s": hub_after["events_per_s"],
        "events_per_s_per_viewer": per_viewer(total.events),
        "batches_per_s_per_viewer": per_viewer(total.batches),
        "kbytes_per_s_per_viewer": per_viewer(total.received_bytes / 1000),
        "traffic_events_per_s_per_viewer": per_viewer(total.traffic_events),
        "viewer_traffic_sampled_fraction": (
            round(total.traffic_events / offered, 4) if offered else None
        ),
        "hub_viewer_stream": sampled,  # the hub's own last-second view of the sample
        "event_latency_ms_p50": percentile_ms(total.event_latency, 0.50),
        "event_latency_ms_p99": percentile_ms(total.event_latency, 0.99),
        "emit_to_viewer_ms_p50": percentile_ms(total.emit_latency, 0.50),
        "emit_to_viewer_ms_p99": percentile_ms(total.emit_latency, 0.99),
        "hub_dropped": hub_after["hub_dropped"] - hub_before["hub_dropped"],
        **_page_figures(page_before, page_after, elapsed_s),
    }


def _page_figures(
    before: tuple[int, list[int]], after: tuple[int, list[int]], elapsed_s: float
) -> dict[str, Any]:
    if not after[1]:
        return {}
    histogram = [a - b for a, b in zip(after[1], before[1], strict=True)]
    return {
        "page_events_per_s": round((after[0] - before[0]) / elapsed_s, 1),
        "page_latency_ms_p50": percentile_ms(histogram, 0.50),
        "page_latency_ms_p99": percentile_ms(histogram, 0.99),
    }


def run_bench(
    steps: tuple[int, ...] = DEFAULT_VIEWER_STEPS,
    load_msgs_per_s: int = DEFAULT_LOAD_MSGS_PER_S,
    nodes: int = DEFAULT_NODES,
    with_browser: bool = True,
    full_stream_steps: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """``full_stream_steps``: indexes of ``steps`` whose viewers present the token."""
    measured_on = machine()  # before we load it ourselves
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-viewers-") as data_dir:
        run = RunPy(nodes, Path(data_dir))
        try:
            run.start()
            run.wait_all_up()
            run.post("/api/load", {"msgs_per_s": load_msgs_per_s})
            with contextlib.ExitStack() as stack:
                page = None
                page_role = None
                if with_browser:
                    browser = stack.enter_context(chromium())
                    page = open_dashboard(browser, run.url, nodes)
                    page_role = unlock(page, run.token)
                results = []
                for i, viewers in enumerate(steps):
                    full = i in full_stream_steps
                    kind = "full-stream" if full else "read-only"
                    progress(f"viewers: {viewers} {kind}, {load_msgs_per_s} msgs/s per node")
                    step = measure_step(run, viewers, page, full)
                    results.append({**step, "page_role": page_role} if page else step)
        finally:
            run.stop()
    return {
        "machine": measured_on,
        "nodes": nodes,
        "load_msgs_per_s_per_node": load_msgs_per_s,
        "measure_s": MEASURE_S,
        "steps": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.viewers", description=__doc__)
    parser.add_argument(
        "--viewers",
        default=",".join(map(str, DEFAULT_VIEWER_STEPS)),
        help="viewer counts to measure, comma-separated; 50f = 50 viewers with the token",
    )
    parser.add_argument("--rate", type=int, default=DEFAULT_LOAD_MSGS_PER_S, help="msgs/s per node")
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument(
        "--no-browser", action="store_true", help="without the instructor's Chromium page"
    )
    args = parser.parse_args(argv)
    written = [v.strip() for v in args.viewers.split(",") if v.strip()]
    steps = tuple(int(v.rstrip("f")) for v in written)
    full = frozenset(i for i, v in enumerate(written) if v.endswith("f"))
    result = run_bench(steps, args.rate, args.nodes, not args.no_browser, full)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
