"""Raft key-value store: write throughput, latency, failover time, the dashboard's cost.

Everything is measured on the real thing: ``run.py`` with 3 node processes,
``fsync = "always"``, 100-byte values, keep-alive HTTP/1.1 clients
(bench/kv_load.py) on the nodes' own client ports.

* ``direct``: 1, 8 and 64 closed-loop clients for ``--duration-s`` each,
  once all on the leader (``leader``: no forwarding) and once spread
  round-robin over the three nodes (``spread``: two thirds of the writes are
  forwarded by a follower as a ``KvForward`` message): writes/s, p50, p99.
* ``gateway``: the same through the backend's ``PUT /api/kv/<key>`` (when the
  backend serves it), to show what the extra hop through Flask costs.
* ``dashboard``: 64 clients on the leader without and with a headless
  Chromium page on the dashboard (every write's telemetry flows to it),
  interleaved ``--dashboard-rounds`` times (without, with, without, with...)
  so that a neighbour's load on a shared machine hits both sides alike. The
  page is opened and unlocked by Playwright, which then disconnects
  (bench/detached_page.py): a user's browser is not instrumented, and the
  harness's own cost is not the dashboard's. ``--attached`` keeps Playwright
  connected, as earlier versions of this benchmark did. Each step also
  reports the CPU seconds per 1,000 writes of the nodes, the backend, the
  browser (Chromium, and Playwright's driver when attached) and this process
  (the load generator): CPU per write survives noise that wall-clock
  throughput does not, and says where a cost goes. And it reports what
  processes outside the run took meanwhile (``foreign_cores``,
  bench/foreign_cpu.py): besides the median over all rounds
  (``cost_fraction``), the result gives each round's own cost and their
  median over the rounds in which no outside process took more than a tenth
  of a core (``cost_fraction_quiet``), the cost on a machine that runs only
  the lab.
* ``failover``: one client writes continuously through a follower; the
  leader is killed with SIGKILL; the time from the kill to the first write
  acknowledged by the new leader (a higher term); median of ``--failover-runs``.

Targets (issue 3): at least 3,000 writes/s with 64 clients on a 2-core
machine; failover median at most 500 ms with 150–300 ms election timeouts;
the dashboard costs at most 10 %.

Run alone: ``.venv/bin/python -m bench.raft [--duration-s 10] [--quick]``
(JSON on stdout, progress on stderr); only the dashboard's cost:
``.venv/bin/python -m bench.raft --dashboard-only --dashboard-rounds 3``; a
front-end change against its predecessor (a copy of the old ``frontend/``,
served through Playwright, so attached):
``... --dashboard-only --baseline-frontend /tmp/old-frontend``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import requests

from bench.browser import chromium, open_dashboard, unlock
from bench.detached_page import detached_dashboard
from bench.foreign_cpu import foreign_cpu_s, machine_cpu
from bench.kv_load import run_load
from bench.machine import machine
from bench.run_process import (
    RunPy,
    cpu_by_pid,
    cpu_seconds,
    cpu_used_since,
    descendants_of,
    progress,
)

NODES = 3
VALUE_BYTES = 100
DEFAULT_CLIENTS = (1, 8, 64)
DEFAULT_DURATION_S = 10.0
DEFAULT_FAILOVER_RUNS = 5
# Pairs of dashboard steps (without, with); more pairs average out a busy
# machine, each costs two steps of --duration-s.
DEFAULT_DASHBOARD_ROUNDS = 1
MAX_DASHBOARD_ROUNDS = 20
TARGET_WRITES_PER_S = 3000
TARGET_FAILOVER_MS = 500.0
TARGET_DASHBOARD_COST = 0.10
# A round counts as measured on a quiet machine when, in both of its steps,
# processes outside the run took at most this much CPU (bench/foreign_cpu.py).
# A tenth of a core: on 2 cores, about the noise of the difference itself.
QUIET_FOREIGN_CORES = 0.10
HTTP_TIMEOUT_S = 10.0
# Time for a restarted node to catch up before the next failover run.
CATCH_UP_TIMEOUT_S = 30.0
ELECTION_TIMEOUT_S = 30.0
# A failover run gives up after this long without a write in the new term.
FAILOVER_GIVE_UP_S = 20.0
# The writer's own timeout per request; a node answers 503 after 5 s itself.
WRITER_TIMEOUT_S = 10.0
SETTLE_S = 1.0


def raft_state(addr: str) -> dict[str, Any] | None:
    try:
        response = requests.get(f"http://{addr}/raft", timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state
    except requests.RequestException:
        return None


def nodes_of(run: RunPy) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in run.cluster()["nodes"]}


def wait_leader(run: RunPy, exclude: str | None = None) -> tuple[str, dict[str, Any]]:
    deadline_s = time.monotonic() + ELECTION_TIMEOUT_S
    while time.monotonic() < deadline_s:
        for node_id, node in nodes_of(run).items():
            if node_id == exclude or node["state"] != "up":
                continue
            state = raft_state(node["client_addr"])
            if state is not None and state["role"] == "leader":
                return node_id, state
        time.sleep(0.05)
    raise RuntimeError("no leader elected")


def wait_caught_up(run: RunPy, node_id: str) -> None:
    deadline_s = time.monotonic() + CATCH_UP_TIMEOUT_S
    while time.monotonic() < deadline_s:
        _, leader_state = wait_leader(run)
        node = nodes_of(run)[node_id]
        state = raft_state(node["client_addr"]) if node["state"] == "up" else None
        if state is not None and state["last_applied"] >= leader_state["commit_index"]:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{node_id} did not catch up")


def load_step(
    addrs: list[str],
    clients: int,
    duration_s: float,
    target: str,
    pids: set[int],
    cpu_groups: dict[str, set[int]] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """One load run; ``cpu_groups`` (name → pids) adds each group's CPU s per 1,000 writes."""
    groups = cpu_groups or {}
    cpu_before_s = cpu_seconds(pids)
    groups_before_s = {name: cpu_by_pid(group) for name, group in groups.items()}
    machine_before = machine_cpu()
    result = run_load(addrs, clients, duration_s, VALUE_BYTES, **kw)
    summary = result.summary()
    step = {"clients": clients, "target": target, **summary}
    step["node_cpu_s_per_1000_writes"] = (
        round((cpu_seconds(pids) - cpu_before_s) / result.ok * 1000, 3) if result.ok else None
    )
    if groups:
        used_s = {
            name: cpu_used_since(groups_before_s[name]) for name in groups
        }
        foreign_s = foreign_cpu_s(machine_before, machine_cpu(), sum(used_s.values()))
        step["cpu_s_per_1000_writes"] = {
            name: round(used / result.ok * 1000, 3) if result.ok else None
            for name, used in used_s.items()
        }
        # Cores busy on average: a browser redraws at its own pace whatever
        # the write rate, so its cost reads better per second than per write.
        step["cpu_cores"] = {
            name: round(used / result.duration_s, 3) if result.duration_s else None
            for name, used in used_s.items()
        }
        # What processes outside the run took meanwhile (bench/foreign_cpu.py).
        step["foreign_cores"] = (
            round(foreign_s / result.duration_s, 3) if result.duration_s else None
        )
    progress(
        f"raft: {clients:>2} clients → {target}: {summary['writes_per_s']} writes/s, "
        f"p50 {summary['latency_ms_p50']} ms, p99 {summary['latency_ms_p99']} ms"
        + (f", cores {step['cpu_cores']}, others {step['foreign_cores']}" if groups else "")
    )
    return step


def direct_steps(
    run: RunPy, clients_list: tuple[int, ...], duration_s: float, targets: tuple[str, ...]
) -> list[dict[str, Any]]:
    steps = []
    for clients in clients_list:
        for target in targets:
            leader, _ = wait_leader(run)
            nodes = nodes_of(run)
            pids = {n["pid"] for n in nodes.values() if n.get("pid")}
            if target == "leader":
                addrs = [nodes[leader]["client_addr"]]
            else:
                addrs = [n["client_addr"] for n in nodes.values()]
            steps.append(load_step(addrs, clients, duration_s, target, pids))
            time.sleep(SETTLE_S)
    return steps


def gateway_steps(
    run: RunPy, clients_list: tuple[int, ...], duration_s: float
) -> list[dict[str, Any]] | str:
    probe = requests.put(run.url + "api/kv/bench-probe", data=b"x", timeout=HTTP_TIMEOUT_S)
    if probe.status_code in (404, 405):
        return f"the backend has no PUT /api/kv yet (HTTP {probe.status_code})"
    host_port = run.url.split("//", 1)[1].rstrip("/")
    auth = f"Authorization: Bearer {run.token}\r\n"
    pids = {n["pid"] for n in nodes_of(run).values() if n.get("pid")} | {run.pid}
    return [
        load_step(
            [host_port], c, duration_s, "gateway", pids, path_prefix="/api/kv/", extra_headers=auth
        )
        for c in clients_list
    ]


def _leader_step(run: RunPy, clients: int, duration_s: float, target: str) -> dict[str, Any]:
    """``clients`` writers on the leader, with every process's CPU split by role."""
    leader, _ = wait_leader(run)
    nodes = nodes_of(run)
    node_pids = {n["pid"] for n in nodes.values() if n.get("pid")}
    backend = {run.pid}
    # Chromium and Playwright's driver are this process's other descendants.
    browser = descendants_of(os.getpid()) - backend - descendants_of(run.pid)
    groups = {"nodes": node_pids, "backend": backend, "browser": browser, "bench": {os.getpid()}}
    addrs = [nodes[leader]["client_addr"]]
    step = load_step(addrs, clients, duration_s, target, node_pids, groups)
    time.sleep(SETTLE_S)
    return step


def _median(steps: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(s[key] for s in steps)), 1)


def _median_cpu(steps: list[dict[str, Any]], key: str) -> dict[str, float]:
    names = steps[0][key]
    return {name: round(statistics.median(s[key][name] or 0.0 for s in steps), 3) for name in names}


def cost_fraction(before: float, after: float) -> float | None:
    """The share of writes/s lost from ``before`` to ``after``."""
    return round((before - after) / before, 3) if before else None


def _quiet(step: dict[str, Any]) -> bool:
    others = step.get("foreign_cores")
    return others is not None and others <= QUIET_FOREIGN_CORES


def _page_step(
    run: RunPy,
    browser: Any,
    clients: int,
    duration_s: float,
    target: str,
    frontend_dir: Path | None = None,
    page_role: str = "instructor",
) -> dict[str, Any]:
    """One loaded step with a page open (from ``frontend_dir`` if given); in a
    detached Chromium of its own when ``browser`` is None.

    The instructor's page gets the full stream, the worst case; a viewer's
    page (no token, what a student opens) gets the thinned one.
    """
    if browser is None:
        token = run.token if page_role == "instructor" else None
        with detached_dashboard(run.url, NODES, token):
            return _leader_step(run, clients, duration_s, target)
    page = open_dashboard(browser, run.url, NODES, frontend_dir)
    try:
        if page_role == "instructor":
            unlock(page, run.token)
        return _leader_step(run, clients, duration_s, target)
    finally:
        page.close()


def dashboard_cost(
    run: RunPy,
    duration_s: float,
    rounds: int = DEFAULT_DASHBOARD_ROUNDS,
    baseline_frontend: Path | None = None,
    page_role: str = "instructor",
    attached: bool = False,
) -> dict[str, Any]:
    """Writes/s at 64 clients without and with a page, interleaved ``rounds`` times.

    ``baseline_frontend``: a copy of ``frontend/`` (an older version) whose page
    gets a step of its own in every round (no page, baseline page, page...), so
    a front-end change is measured against its predecessor on the same run,
    through the same noise.
    """
    clients = max(DEFAULT_CLIENTS)
    without: list[dict[str, Any]] = []
    with_page: list[dict[str, Any]] = []
    with_baseline: list[dict[str, Any]] = []
    attached = attached or baseline_frontend is not None  # its files come through Playwright
    with chromium() if attached else nullcontext() as browser:
        for number in range(1, rounds + 1):
            progress(f"raft: dashboard round {number}/{rounds}: no page")
            without.append(_leader_step(run, clients, duration_s, "leader, no page"))

            def baseline_step(number: int = number) -> None:
                progress(f"raft: dashboard round {number}/{rounds}: baseline page open")
                with_baseline.append(
                    _page_step(run, browser, clients, duration_s,
                               f"leader, baseline {page_role} page open", baseline_frontend,
                               page_role)
                )

            # The cluster slows as its log grows: the baseline goes first in odd
            # rounds and last in even ones, so neither page always gets the later slot.
            if baseline_frontend is not None and number % 2 == 1:
                baseline_step()
            progress(f"raft: dashboard round {number}/{rounds}: {page_role} page open")
            with_page.append(
                _page_step(run, browser, clients, duration_s, f"leader, {page_role} page open",
                           None, page_role)
            )
            if baseline_frontend is not None and number % 2 == 0:
                baseline_step()
    before = _median(without, "writes_per_s")
    after = _median(with_page, "writes_per_s")
    cost = cost_fraction(before, after)
    # Each round on its own (its page step against its own baseline), and the
    # rounds no outside process disturbed.
    paired = [
        cost_fraction(w["writes_per_s"], p["writes_per_s"])
        for w, p in zip(without, with_page, strict=True)
    ]
    quiet = [
        c for w, p, c in zip(without, with_page, paired, strict=True)
        if c is not None and _quiet(w) and _quiet(p)
    ]  # fmt: skip
    result = {
        "clients": clients,
        "rounds": rounds,
        "page_role": page_role,
        "automation": "attached" if attached else "detached",
        "how": "interleaved: no page, page open, no page, page open...; medians",
        "without_dashboard": without[0] if rounds == 1 else without,
        "with_dashboard": with_page[0] if rounds == 1 else with_page,
        "writes_per_s_without": before,
        "writes_per_s_with": after,
        "cpu_s_per_1000_writes_without": _median_cpu(without, "cpu_s_per_1000_writes"),
        "cpu_s_per_1000_writes_with": _median_cpu(with_page, "cpu_s_per_1000_writes"),
        "cpu_cores_without": _median_cpu(without, "cpu_cores"),
        "cpu_cores_with": _median_cpu(with_page, "cpu_cores"),
        "cost_fraction": cost,
        "round_costs": paired,
        "others_cores": [[w.get("foreign_cores"), p.get("foreign_cores")]
                         for w, p in zip(without, with_page, strict=True)],
        "quiet_rounds": len(quiet),
        "quiet_if_others_at_most_cores": QUIET_FOREIGN_CORES,
        "cost_fraction_quiet": round(statistics.median(quiet), 3) if quiet else None,
    }  # fmt: skip
    if with_baseline:
        baseline = _median(with_baseline, "writes_per_s")
        result["how"] = (
            "interleaved: no page, baseline page, page, no page, page, baseline page...; medians"
        )
        result["baseline_frontend"] = str(baseline_frontend)
        result["with_baseline_dashboard"] = with_baseline
        result["writes_per_s_with_baseline"] = baseline
        result["cpu_s_per_1000_writes_with_baseline"] = _median_cpu(
            with_baseline, "cpu_s_per_1000_writes"
        )
        result["cpu_cores_with_baseline"] = _median_cpu(with_baseline, "cpu_cores")
        result["cost_fraction_baseline"] = (
            cost_fraction(before, baseline)
        )
    return result


def dashboard_only(
    duration_s: float,
    rounds: int,
    baseline_frontend: Path | None = None,
    page_role: str = "instructor",
    attached: bool = False,
) -> dict[str, Any]:
    """Just the dashboard's cost, on a fresh run (``--dashboard-only``)."""
    result: dict[str, Any] = {
        "bench": "raft-dashboard",
        "settings": {
            "nodes": NODES,
            "fsync": "always",
            "value_bytes": VALUE_BYTES,
            "duration_s": duration_s,
            "rounds": rounds,
        },
        "machine": machine(),
        "target": {"dashboard_cost_fraction": TARGET_DASHBOARD_COST},
    }
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-raft-") as data_dir:
        run = RunPy(NODES, Path(data_dir))
        try:
            run.start()
            run.wait_all_up()
            wait_leader(run)
            result["dashboard"] = _section(
                dashboard_cost, run, duration_s, rounds, baseline_frontend, page_role, attached
            )
        finally:
            result["orphans_killed"] = run.stop()
    cost = result["dashboard"].get("cost_fraction")
    result["meets_dashboard_target"] = cost is not None and cost <= TARGET_DASHBOARD_COST
    quiet_cost = result["dashboard"].get("cost_fraction_quiet")
    result["meets_dashboard_target_quiet"] = (
        quiet_cost is not None and quiet_cost <= TARGET_DASHBOARD_COST
    )
    result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return result


class Writer:
    """One client writing continuously through ``addr``; records (done_s, status, term)."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.answers: list[tuple[float, int, int]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WRITER_TIMEOUT_S + 1)

    def first_after(self, after_s: float, min_term: int) -> float | None:
        with self._lock:
            for done_s, status, term in self.answers:
                if done_s > after_s and status == 200 and term > min_term:
                    return done_s
        return None

    def _run(self) -> None:
        session = requests.Session()
        value = b"f" * VALUE_BYTES
        i = 0
        while not self._stop.is_set():
            i += 1
            try:
                response = session.put(
                    f"http://{self.addr}/kv/failover-{i % 100}",
                    data=value,
                    timeout=WRITER_TIMEOUT_S,
                )
                term = response.json().get("term", 0) if response.status_code == 200 else 0
                status = response.status_code
            except (requests.RequestException, ValueError):
                status, term = 0, 0
            with self._lock:
                self.answers.append((time.monotonic(), status, term))


def failover_runs(run: RunPy, runs: int) -> dict[str, Any]:
    times_ms: list[float] = []
    for number in range(1, runs + 1):
        leader, state = wait_leader(run)
        nodes = nodes_of(run)
        for node_id in nodes:
            if node_id != leader:
                wait_caught_up(run, node_id)
        entry = next(n for n in nodes if n != leader)
        writer = Writer(nodes[entry]["client_addr"]).start()
        time.sleep(SETTLE_S)
        killed_s = time.monotonic()
        os.kill(nodes[leader]["pid"], signal.SIGKILL)
        deadline_s = killed_s + FAILOVER_GIVE_UP_S
        first_s = None
        while first_s is None and time.monotonic() < deadline_s:
            time.sleep(0.01)
            first_s = writer.first_after(killed_s, state["term"])
        writer.stop()
        if first_s is None:
            progress(f"raft: failover run {number}: no write committed in a new term")
        else:
            times_ms.append((first_s - killed_s) * 1000.0)
            progress(f"raft: failover run {number}: {times_ms[-1]:.0f} ms (killed {leader})")
        run.post("/api/faults", {"action": "restart", "node": leader})
        wait_caught_up(run, leader)
    return {
        "runs_ms": [round(t, 1) for t in times_ms],
        "median_ms": round(statistics.median(times_ms), 1) if times_ms else None,
        "how": "SIGKILL the leader while one client writes through a follower; "
        "time until the first write acknowledged in a higher term",
    }


def _section(measure: Any, *args: Any) -> Any:
    """One part of the benchmark; a failure is reported in the JSON, the rest still runs."""
    try:
        return measure(*args)
    except Exception as exc:  # a benchmark reports a failure, it does not crash
        progress(f"raft: {measure.__name__} failed: {exc!r}")
        return {"error": repr(exc)[:500]}


def run_bench(
    duration_s: float = DEFAULT_DURATION_S,
    clients_list: tuple[int, ...] = DEFAULT_CLIENTS,
    failovers: int = DEFAULT_FAILOVER_RUNS,
    with_dashboard: bool = True,
    dashboard_rounds: int = DEFAULT_DASHBOARD_ROUNDS,
) -> dict[str, Any]:
    measured_on = machine()
    result: dict[str, Any] = {
        "bench": "raft",
        "settings": {
            "nodes": NODES,
            "fsync": "always",
            "value_bytes": VALUE_BYTES,
            "duration_s": duration_s,
            "clients": list(clients_list),
            "client": "closed-loop asyncio keep-alive HTTP/1.1, one request in flight each",
            "targets": "leader: every client on the leader's client port; "
            "spread: round-robin over all nodes (followers forward to the leader)",
        },
        "machine": measured_on,
        "target": {
            "writes_per_s_64_clients": TARGET_WRITES_PER_S,
            "failover_median_ms": TARGET_FAILOVER_MS,
            "dashboard_cost_fraction": TARGET_DASHBOARD_COST,
        },
    }
    with tempfile.TemporaryDirectory(prefix="clusterlab-bench-raft-") as data_dir:
        run = RunPy(NODES, Path(data_dir))
        try:
            progress(f"raft: starting run.py with {NODES} nodes")
            run.start()
            run.wait_all_up()
            leader, _ = wait_leader(run)
            progress(f"raft: leader {leader}")
            result["direct"] = direct_steps(run, clients_list, duration_s, ("leader", "spread"))
            # The gateway goes last: a Flask server swamped by a connection per
            # request would slow every later step down.
            if with_dashboard:
                result["dashboard"] = _section(dashboard_cost, run, duration_s, dashboard_rounds)
            if failovers:
                result["failover"] = _section(failover_runs, run, failovers)
            result["gateway"] = _section(gateway_steps, run, clients_list, duration_s)
        finally:
            result["orphans_killed"] = run.stop()
    best = max(
        (s["writes_per_s"] for s in result.get("direct", []) if s["clients"] == max(clients_list)),
        default=0.0,
    )
    result["best_writes_per_s"] = best
    result["meets_throughput_target"] = best >= TARGET_WRITES_PER_S
    median = (result.get("failover") or {}).get("median_ms")
    result["meets_failover_target"] = median is not None and median <= TARGET_FAILOVER_MS
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.raft", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--duration-s", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument(
        "--clients",
        type=lambda text: tuple(int(p) for p in text.split(",") if p.strip()),
        default=DEFAULT_CLIENTS,
        help="client counts, comma-separated",
    )
    parser.add_argument("--failover-runs", type=int, default=DEFAULT_FAILOVER_RUNS)
    parser.add_argument("--no-dashboard", action="store_true", help="skip the Chromium step")
    parser.add_argument(
        "--quick", action="store_true", help="2 s steps, 2 failover runs, no dashboard"
    )
    parser.add_argument(
        "--dashboard-rounds",
        type=int,
        default=DEFAULT_DASHBOARD_ROUNDS,
        help="pairs of 64-client steps without and with the page, interleaved",
    )
    parser.add_argument(
        "--dashboard-only", action="store_true", help="measure only the dashboard's cost"
    )
    parser.add_argument(
        "--baseline-frontend",
        type=Path,
        default=None,
        help="with --dashboard-only: also measure a page served from this copy of frontend/",
    )
    parser.add_argument(
        "--page-role",
        choices=("instructor", "viewer"),
        default="instructor",
        help="with --dashboard-only: the instructor's page (full stream, the default) or a "
        "viewer's (no token, thinned stream)",
    )
    parser.add_argument(
        "--attached",
        action="store_true",
        help="keep Playwright connected to the page while measuring (its protocol traffic "
        "then counts as the browser's)",
    )
    args = parser.parse_args(argv)
    rounds = min(max(1, args.dashboard_rounds), MAX_DASHBOARD_ROUNDS)
    if args.dashboard_only:
        result = dashboard_only(
            args.duration_s, rounds, args.baseline_frontend, args.page_role, args.attached
        )
    elif args.quick:
        result = run_bench(2.0, args.clients, 2, with_dashboard=False)
    else:
        result = run_bench(
            args.duration_s, args.clients, args.failover_runs, not args.no_dashboard, rounds
        )
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
