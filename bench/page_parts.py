"""What each part of the open dashboard costs: the page with one thing hidden or slowed.

Why: bench/raft.py says what the whole page costs the Raft cluster; it does
not say where in the page that cost is. Chromium's own trace can, but only
with automation attached, which costs a tenth of a core itself and changes
what it measures. This opens the page detached (bench/detached_page.py) with
one *variant* applied just before Playwright disconnects: a style that hides
a part of the page, a script that limits the animation frames or cuts the
event handlers off. Every variant runs once per round, rounds interleaved,
each under the same 64-client write load on the leader (or with the cluster
idle, ``--idle``), and the JSON gives the browser's cores and the writes/s
per variant, and what processes outside the run took meanwhile
(``foreign_cores``, bench/foreign_cpu.py). ``no-page`` is the baseline for
a cost; bench/raft.py measures the cost itself more carefully.

Example: ``.venv/bin/python -m bench.page_parts --rounds 5 no-page whole frames-2``.
The variants are diagnoses, not settings a user has: a page with its body
hidden is not a dashboard.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from bench.detached_page import detached_dashboard
from bench.machine import machine
from bench.raft import NODES, cost_fraction, load_step, nodes_of, wait_leader
from bench.run_process import RunPy, cpu_by_pid, cpu_used_since, progress

CLIENTS = 64
DEFAULT_ROUNDS = 3
DEFAULT_DURATION_S = 5.0
SETTLE_S = 1.0  # after the page is detached, before measuring

# Every animation frame waits until this long after the previous one.
_LIMIT_FRAMES = """(periodMs) => {
  const raf = window.requestAnimationFrame.bind(window);
  let lastMs = 0;
  window.requestAnimationFrame = (callback) => setTimeout(() => raf((t) => {
    lastMs = performance.now();
    callback(t);
  }), Math.max(0, lastMs + periodMs - performance.now()));
}"""
# The stream still arrives and is acknowledged (or the hub would stop
# sending), but no view handles it.
_RECEIVE_ONLY = """() => {
  const socket = window.clusterlab.socket;
  for (const topic of ["events", "view", "stats"]) socket.off(topic);
  socket.on("events", (batch) => socket.emit("events_ack", batch?.seq ?? 0));
}"""
_HIDE_BODY = "body { display: none !important; }"


def _style(css: str) -> Callable[[Page], None]:
    def hide(page: Page) -> None:
        page.add_style_tag(content=css)

    return hide


def _frames_per_s(count: int) -> Callable[[Page], None]:
    return lambda page: page.evaluate(_LIMIT_FRAMES, 1000 / count)


def _receive_only(page: Page) -> None:
    page.add_style_tag(content=_HIDE_BODY)
    page.evaluate(_RECEIVE_ONLY)


VARIANTS: dict[str, Callable[[Page], None] | None] = {
    "no-page": None,  # no browser at all
    "whole": lambda page: None,
    "frames-2": _frames_per_s(2),
    "frames-5": _frames_per_s(5),
    "only-topology": _style(".side-panel, .timeline, .statusbar { display: none !important; }"),
    "no-timeline": _style(".timeline { display: none !important; }"),
    "no-side-panel": _style(".side-panel { display: none !important; }"),
    "no-dots": _style("#dots { display: none !important; }"),
    "body-hidden": _style(_HIDE_BODY),
    "receive-only": _receive_only,
}


def _step(run: RunPy, addr: str, variant: str, duration_s: float, idle: bool) -> dict[str, Any]:
    prepare = VARIANTS[variant]
    page: AbstractContextManager[set[int]] = (
        nullcontext(set())
        if prepare is None
        else detached_dashboard(run.url, NODES, run.token, prepare)
    )
    with page as browser_pids:
        time.sleep(SETTLE_S)
        if idle:
            before = cpu_by_pid(browser_pids)
            time.sleep(duration_s)
            cores = cpu_used_since(before) / duration_s
            return {"variant": variant, "writes_per_s": None, "browser_cores": round(cores, 3)}
        node_pids = {n["pid"] for n in nodes_of(run).values() if n.get("pid")}
        groups = {
            "nodes": node_pids,
            "backend": {run.pid},
            "browser": browser_pids,
            "bench": {os.getpid()},
        }
        step = load_step([addr], CLIENTS, duration_s, variant, node_pids, groups)
        return {
            "variant": variant,
            "writes_per_s": step["writes_per_s"],
            "browser_cores": step["cpu_cores"]["browser"],
            "foreign_cores": step["foreign_cores"],
        }


def measure(variants: list[str], rounds: int, duration_s: float, idle: bool) -> dict[str, Any]:
    steps: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-parts-") as data_dir:
        run = RunPy(NODES, Path(data_dir))
        try:
            run.start()
            run.wait_all_up()
            leader, _ = wait_leader(run)
            addr = nodes_of(run)[leader]["client_addr"]
            for number in range(1, rounds + 1):
                # A different variant goes first in each round: the cluster
                # slows as its log grows, and no variant should always be first.
                shift = (number - 1) % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    progress(f"page_parts: round {number}/{rounds}: {variant}")
                    steps[variant].append(_step(run, addr, variant, duration_s, idle))
        finally:
            orphans = run.stop()
    summary: dict[str, Any] = {}
    for variant, taken in steps.items():
        summary[variant] = {"browser_cores": _median(s["browser_cores"] for s in taken)}
        if not idle:
            summary[variant]["writes_per_s"] = _median(s["writes_per_s"] for s in taken)
    baseline = summary.get("no-page", {}).get("writes_per_s")
    if baseline:
        for variant in summary:
            summary[variant]["cost_fraction"] = cost_fraction(
                baseline, summary[variant]["writes_per_s"]
            )
    return {"summary": summary, "steps": steps, "orphans_killed": orphans}


def _median(values: Any) -> float:
    return round(float(statistics.median(values)), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page_parts", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "variants", nargs="+", choices=sorted(VARIANTS), metavar="VARIANT",
        help=f"one or more of: {', '.join(VARIANTS)}",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--duration-s", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--idle", action="store_true", help="no write load: the page at rest")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration_s <= 0:
        parser.error("--rounds must be at least 1 and --duration-s positive")
    result = {
        "bench": "page-parts",
        "settings": {
            "nodes": NODES,
            "clients": 0 if args.idle else CLIENTS,
            "rounds": args.rounds,
            "duration_s": args.duration_s,
        },
        "machine": machine(),
        **measure(list(dict.fromkeys(args.variants)), args.rounds, args.duration_s, args.idle),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
