"""How many telemetry events per second reach a real browser page, and how late.

The pipeline measured end to end: node processes generate real traffic
(``POST /api/load``: every ``Chatter`` message is a real frame and yields a
``MsgSent`` and a ``MsgReceived`` event), batch their events to the hub over
TCP, the hub fans them out over Socket.IO, and headless Chromium runs the
real dashboard, which counts every event it receives and records
``Date.now() − event.t_ms`` in a 1 ms histogram (``window.clusterlab``).
All processes share this machine's clock, so that difference is the real
event-to-page latency.

For each load step: set the load, wait WARMUP_S, then read the page's
counters, the hub's stats and the nodes' counters before and after a
MEASURE_S window. Target (issue 2): at least 20,000 events/s in the page
with p99 latency at most 250 ms on a 2-core machine.

Run alone: ``.venv/bin/python -m bench.telemetry [--rates 500,1500,2500]``.
``--frontend-dir DIR`` serves the page's own files from another copy of
``frontend/`` (e.g. ``git archive`` of the previous commit), for interleaved
A/B runs of a page change. ``--cpu-profile PATH`` also records a V8 CPU
profile of the page during each measure window and writes its top functions
by self time to PATH (JSON): where the page's main thread goes when it
cannot keep up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from bench.browser import PageProfiler, chromium, lab, open_dashboard, unlock
from bench.machine import machine
from bench.run_process import RunPy, cpu_seconds, descendants_of, progress

TARGET_EVENTS_PER_S = 20_000
TARGET_LATENCY_MS_P99 = 250.0
# Per node. 2,500 msgs/s x 5 nodes x 2 events per message = 25,000 events/s,
# just above the target; the lower steps show how latency grows with load.
DEFAULT_RATES_MSGS_PER_S = (500, 1500, 2500)
DEFAULT_NODES = 5
# Long enough for the nodes' load generators, the hub's outbox and the
# page's queues to reach a steady state after a change of load.
WARMUP_S = 3.0
# Ten seconds gives ~200,000 events at the target rate: a stable p99.
MEASURE_S = 10.0
STATS_SAMPLE_INTERVAL_S = 1.0  # the hub recomputes its rates once a second
# After a step, the load is switched off and the backlog given this long to drain.
SETTLE_S = 2.0


def percentile_ms(histogram: list[int], fraction: float) -> float | None:
    """The upper edge of the 1 ms bucket holding the ``fraction`` quantile."""
    total = sum(histogram)
    if total == 0:
        return None
    wanted = fraction * total
    seen = 0
    for bucket_ms, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return float(bucket_ms + 1)
    return float(len(histogram))


def page_snapshot(page: Page) -> dict[str, Any]:
    snapshot: dict[str, Any] = lab(
        page,
        """({
            events: lab.eventsReceived,
            batches: lab.batchesReceived,
            histogram: Array.from(lab.latencyHistogram),
            hopsJoined: lab.topology.hopsJoined,
            dotsDrawn: lab.topology.dotsDrawn,
            dotsSampledOut: lab.topology.dotsSampledOut,
            frames: lab.topology.frames,
            msgsReceived: lab.topology.msgsReceived,
            msgsDropped: lab.topology.msgsDropped,
            handlingMs: lab.eventHandlingMs,
            nowMs: performance.now(),
        })""",
    )
    return snapshot


def node_counters(run: RunPy) -> dict[str, dict[str, int]]:
    return {n["id"]: dict(n.get("counters", {})) for n in run.cluster()["nodes"]}


def counter_delta(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], name: str
) -> int:
    return sum(after[n].get(name, 0) - before.get(n, {}).get(name, 0) for n in after)


def measure_step(
    run: RunPy,
    page: Page,
    rate: int,
    warmup_s: float,
    measure_s: float,
    profiler: PageProfiler | None = None,
) -> dict[str, Any]:
    progress(f"telemetry: load {rate} msgs/s per node; warming up {warmup_s:.0f} s")
    run.post("/api/load", {"msgs_per_s": rate})
    time.sleep(warmup_s)

    # Who uses the two cores: the backend (run.py), the node processes, the
    # browser (everything else this process spawned: Playwright and Chromium).
    node_pids = descendants_of(run.pid)
    browser_pids = descendants_of(os.getpid()) - node_pids - {run.pid}
    groups = {"backend": {run.pid}, "nodes": node_pids, "browser": browser_pids}
    cpu0 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    page0, stats0, nodes0 = page_snapshot(page), run.get("/api/stats"), node_counters(run)
    if profiler:
        profiler.start()
    start_s = time.monotonic()
    hub_events_per_s: list[float] = []
    hub_msgs_per_s: list[float] = []
    while time.monotonic() - start_s < measure_s:
        time.sleep(STATS_SAMPLE_INTERVAL_S)
        stats = run.get("/api/stats")
        hub_events_per_s.append(stats["events_per_s"])
        hub_msgs_per_s.append(stats["msgs_per_s"])
    page1, stats1, nodes1 = page_snapshot(page), run.get("/api/stats"), node_counters(run)
    cpu1 = {name: cpu_seconds(pids) for name, pids in groups.items()}
    profile = profiler.stop() if profiler else None

    window_s = (page1["nowMs"] - page0["nowMs"]) / 1000.0
    histogram = [b - a for a, b in zip(page0["histogram"], page1["histogram"], strict=True)]
    events = page1["events"] - page0["events"]
    frames_sent = counter_delta(nodes0, nodes1, "frames_sent")
    frames_received = counter_delta(nodes0, nodes1, "frames_received")
    dropped = {
        node: stats1["telemetry_dropped"].get(node, 0) - stats0["telemetry_dropped"].get(node, 0)
        for node in stats1["telemetry_dropped"]
    }
    step = {
        "load_msgs_per_s_per_node": rate,
        "window_s": round(window_s, 2),
        "events_in_page": events,
        "events_per_s_in_page": round(events / window_s, 1),
        "batches_per_s_in_page": round((page1["batches"] - page0["batches"]) / window_s, 1),
        "latency_ms_p50": percentile_ms(histogram, 0.50),
        "latency_ms_p90": percentile_ms(histogram, 0.90),
        "latency_ms_p99": percentile_ms(histogram, 0.99),
        "latency_ms_max": percentile_ms(histogram, 1.0),
        "hub_events_per_s_mean": round(statistics.fmean(hub_events_per_s), 1),
        "hub_msgs_per_s_mean": round(statistics.fmean(hub_msgs_per_s), 1),
        # What the nodes attempted: every frame sent and received is one event
        # (MsgSent, MsgReceived) the nodes tried to report.
        "nodes_frames_sent_per_s": round(frames_sent / window_s, 1),
        "nodes_msg_events_attempted_per_s": round((frames_sent + frames_received) / window_s, 1),
        "telemetry_dropped": dropped,
        "telemetry_dropped_total": sum(dropped.values()),
        "hub_dropped": stats1["hub_dropped"] - stats0["hub_dropped"],
        # Share of the page's main thread spent handling events (parsing excluded).
        "page_event_handling_share": round(
            (page1["handlingMs"] - page0["handlingMs"]) / 1000.0 / window_s, 3
        ),
        # CPU used during the window, in cores (2.0 = both cores of a 2-core machine).
        "cpu_cores": {
            name: round((cpu1[name] - cpu0[name]) / window_s, 2) for name in groups
        },
        "page_fps": round((page1["frames"] - page0["frames"]) / window_s, 1),
        # Browser CPU per 1,000 events that reached the page: less noisy than
        # events/s on a shared machine, where the page gets what CPU is left.
        "browser_cpu_ms_per_1000_events": (
            round((cpu1["browser"] - cpu0["browser"]) * 1e6 / events, 1) if events else None
        ),
        # If messages are dropped instead of delivered (no route yet, a cut
        # link), the load yields MsgDropped events, not MsgSent + MsgReceived.
        "page_msgs_received_per_s": round(
            (page1["msgsReceived"] - page0["msgsReceived"]) / window_s, 1
        ),
        "page_msgs_dropped_per_s": round(
            (page1["msgsDropped"] - page0["msgsDropped"]) / window_s, 1
        ),
        "page_hops_joined_per_s": round((page1["hopsJoined"] - page0["hopsJoined"]) / window_s, 1),
        "page_dots_drawn_per_s": round((page1["dotsDrawn"] - page0["dotsDrawn"]) / window_s, 1),
    }
    if profile:
        step["page_cpu_profile"] = profile
    progress(
        f"telemetry: {step['events_per_s_in_page']:,.0f} events/s in page, "
        f"p50 {step['latency_ms_p50']} ms, p99 {step['latency_ms_p99']} ms, "
        f"telemetry dropped: nodes {step['telemetry_dropped_total']} hub {step['hub_dropped']}; "
        f"msgs delivered {step['page_msgs_received_per_s']:,.0f}/s, "
        f"msgs dropped {step['page_msgs_dropped_per_s']:,.0f}/s"
    )
    return step


def meets_target(step: dict[str, Any]) -> bool:
    p99 = step["latency_ms_p99"]
    return bool(
        step["events_per_s_in_page"] >= TARGET_EVENTS_PER_S
        and p99 is not None
        and p99 <= TARGET_LATENCY_MS_P99
    )


def run_bench(
    rates: tuple[int, ...] = DEFAULT_RATES_MSGS_PER_S,
    nodes: int = DEFAULT_NODES,
    warmup_s: float = WARMUP_S,
    measure_s: float = MEASURE_S,
    cpu_profile: bool = False,
    frontend_dir: Path | None = None,
) -> dict[str, Any]:
    measured_on = machine()  # before we load it ourselves
    steps: list[dict[str, Any]] = []
    page_role = ""
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-") as data_dir:
        run = RunPy(nodes, Path(data_dir))
        try:
            progress(f"telemetry: starting run.py with {nodes} nodes")
            run.start()
            run.wait_all_up()
            with chromium() as browser:
                page = open_dashboard(browser, run.url, nodes, frontend_dir)
                page_role = unlock(page, run.token)  # the projected page: the full stream
                profiler = PageProfiler(page) if cpu_profile else None
                for rate in rates:
                    steps.append(measure_step(run, page, rate, warmup_s, measure_s, profiler))
                    run.post("/api/load", {"msgs_per_s": 0})
                    time.sleep(SETTLE_S)
        finally:
            survivors = run.stop()
    best = max(steps, key=lambda s: s["events_per_s_in_page"]) if steps else None
    return {
        "bench": "telemetry",
        "settings": {
            "nodes": nodes,
            "rates_msgs_per_s_per_node": list(rates),
            "warmup_s": warmup_s,
            "measure_s": measure_s,
            "latency": "Date.now() - event.t_ms in the page; upper edge of a 1 ms bucket",
            "frontend_dir": str(frontend_dir) if frontend_dir else "frontend/ (the backend's)",
        },
        "machine": measured_on,
        "target": {
            "events_per_s_in_page": TARGET_EVENTS_PER_S,
            "latency_ms_p99": TARGET_LATENCY_MS_P99,
        },
        "page_role": page_role or "unknown (the backend does not say)",
        "steps": steps,
        "best_events_per_s_in_page": best["events_per_s_in_page"] if best else None,
        "meets_target": any(meets_target(s) for s in steps),
        "orphans_killed": survivors,
    }


def parse_rates(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.telemetry", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--rates",
        type=parse_rates,
        default=DEFAULT_RATES_MSGS_PER_S,
        help="load steps, msgs/s per node, comma-separated",
    )
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument("--warmup-s", type=float, default=WARMUP_S)
    parser.add_argument("--measure-s", type=float, default=MEASURE_S)
    parser.add_argument(
        "--cpu-profile",
        type=Path,
        metavar="PATH",
        help="profile the page during each measure window; write its top functions (JSON) here",
    )
    parser.add_argument(
        "--frontend-dir",
        type=Path,
        metavar="DIR",
        help="serve the page's files from this copy of frontend/ (A/B runs of a page change)",
    )
    args = parser.parse_args(argv)
    result = run_bench(
        args.rates,
        args.nodes,
        args.warmup_s,
        args.measure_s,
        args.cpu_profile is not None,
        args.frontend_dir,
    )
    if args.cpu_profile:
        # The profiles go to their own file: the result on stdout stays comparable.
        profiles = [
            {"load_msgs_per_s_per_node": s["load_msgs_per_s_per_node"], **s.pop("page_cpu_profile")}
            for s in result["steps"]
            if "page_cpu_profile" in s
        ]
        args.cpu_profile.write_text(json.dumps(profiles, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
