"""How long a cluster takes to start, and how much memory one node costs.

A lesson starts with ``make run``; if that takes a minute, or fifty nodes
exhaust a laptop's memory, the lesson stalls. For 5 and for 50 nodes this
measures, from the moment ``run.py`` is spawned:

* ``url_s``: until run.py prints the dashboard URL (backend listening,
  node processes spawned);
* ``all_up_s``: until ``GET /api/cluster`` shows every node "up" (each node
  has started, connected to the hub and said ``NodeUp``);
* the resident memory of every node process (VmRSS in /proc/<pid>/status)
  and of run.py itself, read once all nodes are up;
* ``stop_s``: how long run.py takes to stop everything on SIGTERM.

Run alone: ``.venv/bin/python -m bench.startup [--sizes 5,50] [--trials 3]``.
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
from bench.run_process import RunPy, progress, rss_bytes

DEFAULT_SIZES = (5, 50)
# Three trials show the spread without tying up a shared machine for long.
DEFAULT_TRIALS = 3
# Node memory right after start-up still grows as buffers fill; let it settle.
RSS_SETTLE_S = 2.0
MIB = 1024 * 1024


def one_trial(nodes: int) -> dict[str, Any]:
    """One start; a start that fails or times out is reported, not raised."""
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-") as data_dir:
        run = RunPy(nodes, Path(data_dir))
        try:
            run.start()
            url_s = time.monotonic() - run.spawned_at_s
            all_up_s = run.wait_all_up()
            time.sleep(RSS_SETTLE_S)
            # The pids seen while waiting: nothing restarts here, and a backend
            # swamped by 50 nodes may not answer another request in time.
            node_rss = [r for r in (rss_bytes(p) for p in run.node_pids) if r is not None]
            backend_rss = rss_bytes(run.pid)
        except (RuntimeError, requests.RequestException) as exc:
            progress(f"startup: {nodes} nodes FAILED: {exc}")
            error = str(exc).splitlines()[0]
        else:
            error = ""
        finally:
            stop_started_s = time.monotonic()
            survivors = run.stop()
            stop_s = time.monotonic() - stop_started_s
    if error:
        return {"error": error, "orphans_killed": survivors}
    trial = {
        "url_s": round(url_s, 3),
        "all_up_s": round(all_up_s, 3),
        "stop_s": round(stop_s, 3),
        "rss_mib_per_node_median": round(statistics.median(node_rss) / MIB, 1),
        "rss_mib_per_node_max": round(max(node_rss) / MIB, 1),
        "rss_mib_nodes_total": round(sum(node_rss) / MIB, 1),
        "rss_mib_backend": round(backend_rss / MIB, 1) if backend_rss else None,
        "orphans_killed": survivors,
    }
    progress(
        f"startup: {nodes} nodes up in {trial['all_up_s']} s, "
        f"node RSS median {trial['rss_mib_per_node_median']} MiB"
    )
    return trial


def run_bench(
    sizes: tuple[int, ...] = DEFAULT_SIZES, trials: int = DEFAULT_TRIALS
) -> dict[str, Any]:
    measured_on = machine()  # before we load it ourselves
    results = []
    for nodes in sizes:
        progress(f"startup: {trials} trials with {nodes} nodes")
        runs = [one_trial(nodes) for _ in range(trials)]
        good = [t for t in runs if "error" not in t]
        summary: dict[str, Any] = {"nodes": nodes, "failed_trials": len(runs) - len(good)}
        if good:
            summary |= {
                "all_up_s_median": statistics.median(t["all_up_s"] for t in good),
                "all_up_s_max": max(t["all_up_s"] for t in good),
                "rss_mib_per_node_median": statistics.median(
                    t["rss_mib_per_node_median"] for t in good
                ),
                "rss_mib_per_node_max": max(t["rss_mib_per_node_max"] for t in good),
            }
        results.append(summary | {"trials": runs})
    return {
        "bench": "startup",
        "settings": {"sizes": list(sizes), "trials": trials, "rss_settle_s": RSS_SETTLE_S},
        "machine": measured_on,
        "results": results,
    }


def parse_sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.startup", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="cluster sizes, comma-separated"
    )
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    args = parser.parse_args(argv)
    json.dump(run_bench(args.sizes, args.trials), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
