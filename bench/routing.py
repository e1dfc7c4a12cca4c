"""What multi-hop routing costs on a real cluster, and how fast it heals.

Three figures, each measured through ``run.py`` and its REST API exactly as
the dashboard uses them:

* ``per_hop``: forwarding overhead per hop on loopback with no injected
  delay. ``POST /api/trace`` sends a real probe along a line of 5 nodes;
  every node stamps the time it handled it (one machine, one clock), so each
  hop's time is read directly. Reported: the median hop of 4-hop traces
  (n1→n5) and of 1-hop traces (n1→n2). Target: median ≤ 0.3 ms per hop.
* ``reconverge``: after a link of a ring of 5 is cut, how long until the last
  node's table changed for the last time (``RouteTable`` events' t_ms, read
  back from ``GET /api/events``) — as a multiple of the routing hello
  interval. Two kinds: a cut through the API (both ends are told; target
  ≤ 3×), and a silent failure (a node is paused: only missing hellos can
  tell, so the dead interval is the floor). Each trial starts once the
  previous change is more than MinLSInterval old: a change that follows
  another within it waits for it (up to 0.5 s), by design.
* ``latency``: a 50 ms link, measured two ways: the one-way hop time of
  traces across it, and half the heartbeat RTT; error relative to the
  configured 50 ms (target: within 5 % median).

Run alone: ``.venv/bin/python -m bench.routing [--trials 5] [--traces 50]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.machine import machine
from bench.run_process import HTTP_TIMEOUT_S, RunPy, progress
from cluster.core.routing.linkstate import LinkStateConfig
from cluster.node.routing import MIN_DEAD_INTERVAL_MS, MIN_LSA_INTERVAL_MS

NODES = 5
DEFAULT_TRACES = 50  # per kind; the median of 50 is stable to a few µs
DEFAULT_TRIALS = 5  # cuts (and restores), and pauses
TICK_MS = 10  # ClusterConfig's default tick
HELLO_INTERVAL_MS = LinkStateConfig().hello_interval_ticks * TICK_MS
SLOW_LINK_MS = 50.0
CONVERGE_TIMEOUT_S = 30.0
# After "converged", RouteTable events may still be in a node's 30 ms
# telemetry buffer; wait this long before reading them back.
TELEMETRY_SETTLE_S = 0.5
EVENTS_READ_LIMIT = 20_000  # the hub's history holds this many


def _send(run: RunPy, method: str, path: str, body: Any) -> Any:
    response = requests.request(
        method,
        run.url + path.lstrip("/"),
        json=body,
        headers={"Authorization": f"Bearer {run.token}"},
        timeout=HTTP_TIMEOUT_S,
    )
    response.raise_for_status()
    return response.json()


def _wait_converged(run: RunPy) -> None:
    deadline_s = time.monotonic() + CONVERGE_TIMEOUT_S
    while time.monotonic() < deadline_s:
        if run.get("/api/routes")["converged"]:
            return
        time.sleep(0.02)
    raise RuntimeError("the routing tables did not converge")


def _hop_times(run: RunPy, src: str, dst: str, count: int) -> list[float]:
    times: list[float] = []
    for _ in range(count):
        trace = _send(run, "POST", "/api/trace", {"src": src, "dst": dst})
        if not trace["reached"]:
            raise RuntimeError(f"trace {src}→{dst} failed: {trace['reason']}")
        times.extend(h["hop_ms"] for h in trace["hops"][1:])
    return times


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 4),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], 4),
        "min": round(ordered[0], 4),
        "samples": len(ordered),
    }


def per_hop(run: RunPy, traces: int) -> dict[str, Any]:
    _hop_times(run, "n1", "n5", 5)  # warm up: first frames pay for imports and buffers
    four = _hop_times(run, "n1", "n5", traces)
    one = _hop_times(run, "n1", "n2", traces)
    result = {"line_4_hops_ms": _summary(four), "single_hop_ms": _summary(one)}
    progress(f"routing: median hop {result['line_4_hops_ms']['median']} ms (4-hop traces)")
    return result


def _last_table_change_ms(run: RunPy, since_ms: float) -> float | None:
    time.sleep(TELEMETRY_SETTLE_S)
    events = run.get(f"/api/events?limit={EVENTS_READ_LIMIT}")["events"]
    changes = [
        e["t_ms"]
        for e in events
        if e["type"] == "RouteTable" and e["t_ms"] >= since_ms and e["changes"]
    ]
    return max(changes) if changes else None


def reconverge(run: RunPy, trials: int) -> dict[str, Any]:
    ring = {"links": [{"a": f"n{i}", "b": f"n{i % NODES + 1}"} for i in range(1, NODES + 1)]}
    _send(run, "PUT", "/api/topology", ring)
    _wait_converged(run)
    time.sleep(2 * MIN_LSA_INTERVAL_MS / 1000)
    cut_ms: list[float] = []
    for _ in range(trials):
        started_ms = time.time() * 1000
        _send(run, "PATCH", "/api/topology/links/n1/n2", {"up": False})
        _wait_converged(run)
        last = _last_table_change_ms(run, started_ms)
        if last is not None:
            cut_ms.append(last - started_ms)
        _send(run, "PATCH", "/api/topology/links/n1/n2", {"up": True})
        _wait_converged(run)
        time.sleep(2 * MIN_LSA_INTERVAL_MS / 1000)  # a cut in steady state, not right after
    silent_ms: list[float] = []
    for _ in range(trials):
        started_ms = time.time() * 1000
        run.post("/api/faults", {"action": "pause", "node": "n3"})
        _wait_converged(run)
        last = _last_table_change_ms(run, started_ms)
        if last is not None:
            silent_ms.append(last - started_ms)
        run.post("/api/faults", {"action": "resume", "node": "n3"})
        _wait_converged(run)
        time.sleep(2 * MIN_LSA_INTERVAL_MS / 1000)
    result = {
        "hello_interval_ms": HELLO_INTERVAL_MS,
        "dead_interval_ms": max(
            LinkStateConfig().dead_interval_ticks * TICK_MS, MIN_DEAD_INTERVAL_MS
        ),
        "min_lsa_interval_ms": MIN_LSA_INTERVAL_MS,
        "link_cut_ms": [round(x, 1) for x in cut_ms],
        "link_cut_median_hellos": round(statistics.median(cut_ms) / HELLO_INTERVAL_MS, 2),
        "silent_failure_ms": [round(x, 1) for x in silent_ms],
        "silent_failure_median_hellos": round(
            statistics.median(silent_ms) / HELLO_INTERVAL_MS, 2
        ),
    }
    progress(
        f"routing: reconverged after a cut in {result['link_cut_median_hellos']} hellos, "
        f"after a silent failure in {result['silent_failure_median_hellos']}"
    )
    return result


def latency(run: RunPy, traces: int) -> dict[str, Any]:
    _send(run, "PATCH", "/api/topology/links/n1/n2", {"latency_ms": SLOW_LINK_MS})
    _wait_converged(run)
    started_ms = time.time() * 1000
    one_way = _hop_times(run, "n1", "n2", max(10, traces // 5))
    # Heartbeats every 500 ms: wait for a few round trips at the new latency.
    time.sleep(3.0)
    events = run.get(f"/api/events?limit={EVENTS_READ_LIMIT}")["events"]
    half_rtts = [
        e["rtt_ms"] / 2
        for e in events
        if e["type"] == "LinkRtt"
        and e["t_ms"] >= started_ms
        and {e["node"], e["peer"]} == {"n1", "n2"}
    ]

    def error(samples: list[float]) -> float:
        return round(abs(statistics.median(samples) - SLOW_LINK_MS) / SLOW_LINK_MS * 100, 2)

    trace_summary = _summary(one_way)
    result: dict[str, Any] = {
        "configured_ms": SLOW_LINK_MS,
        "trace_one_way_ms": trace_summary,
        "trace_error_pct": error(one_way),
        "heartbeat_half_rtt_ms": _summary(half_rtts) if half_rtts else None,
        "heartbeat_error_pct": error(half_rtts) if half_rtts else None,
    }
    progress(f"routing: 50 ms link measured {trace_summary['median']} ms one way")
    return result


def run_bench(trials: int = DEFAULT_TRIALS, traces: int = DEFAULT_TRACES) -> dict[str, Any]:
    measured_on = machine()
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-") as data_dir:
        run = RunPy(NODES, Path(data_dir), ("--topology", "line"))
        try:
            run.start()
            run.wait_all_up()
            _wait_converged(run)
            hops = per_hop(run, traces)
            slow = latency(run, traces)
            _send(run, "PATCH", "/api/topology/links/n1/n2", {"latency_ms": 0})
            healing = reconverge(run, trials)
        finally:
            run.stop()
    return {
        "bench": "routing",
        "settings": {"nodes": NODES, "trials": trials, "traces": traces, "tick_ms": TICK_MS},
        "machine": measured_on,
        "targets": {
            "per_hop_median_ms": 0.3,
            "link_cut_reconverge_hellos": 3,
            "latency_error_pct": 5,
        },
        "per_hop": hops,
        "reconverge": healing,
        "latency": slow,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--traces", type=int, default=DEFAULT_TRACES)
    args = parser.parse_args(argv)
    json.dump(run_bench(args.trials, args.traces), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
