"""One ``run.py`` subprocess, started and stopped the way a user would.

Benchmarks measure the real entry point, not an in-process shortcut: the
URL and instructor token are read from what run.py prints, the cluster is
observed through its public REST API, and stopping it is checked: every node
process it spawned must be gone afterwards (survivors are killed by pid and
reported), so a benchmark never leaves a machine full of orphans.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cluster.launcher.pdeathsig import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
URL_LINE = re.compile(r"Dashboard:\s+(http://\S+)")
TOKEN_LINE = re.compile(r"Token:\s+(\S+)")
# 50 node processes starting on a busy 2-core machine take a while.
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
# Kept only to explain a failure; run.py prints a handful of lines.
OUTPUT_LINES_KEPT = 400
HTTP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.02  # fine enough to time a start of about a second


def _proc_state(pid: int) -> str | None:
    """The one-letter state of ``pid`` in /proc (R, S, T, Z...), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped runs nothing)."""
    return _proc_state(pid) not in (None, "Z", "X")


def pid_stopped(pid: int) -> bool:
    """True if ``pid`` is stopped by a signal (SIGSTOP): state T."""
    return _proc_state(pid) == "T"


def pids_mentioning(text: str) -> list[int]:
    """Live processes (not this one) whose command line contains ``text``, e.g. a data dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_for(
    condition: Callable[[], Any], what: str, deadline_s: float, interval_s: float = 0.05
) -> Any:
    """Poll until ``condition()`` is truthy; return its value or fail naming ``what``."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(interval_s)


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def descendants_of(pid: int) -> set[int]:
    """Every process below ``pid`` (children, grandchildren...), from /proc."""
    parent_of: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parent_of[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier}
        found |= frontier
    return found


CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids: set[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each of these processes still alive."""
    used: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime, stime
    return used


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time used so far by these processes (those still alive)."""
    return sum(cpu_by_pid(pids).values())


def cpu_used_since(before: dict[int, float]) -> float:
    """CPU seconds used since ``before`` (cpu_by_pid) by the processes alive at both ends.

    A process that exits in between (a closed page's renderer) would otherwise
    take its whole life's CPU out of the sum and make it negative.
    """
    after = cpu_by_pid(set(before))
    return sum(after[pid] - before[pid] for pid in after)


def rss_bytes(pid: int) -> int | None:
    """Resident set size from /proc/<pid>/status (VmRSS, in kB there)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class RunPy:
    """``run.py --port 0 --no-browser --nodes N --data-dir DIR`` and what it spawned."""

    def __init__(self, nodes: int, data_dir: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.url = ""
        self.token = ""
        self.spawned_at_s = 0.0  # time.monotonic() just before Popen
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self.node_pids: set[int] = set()
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self) -> RunPy:
        args = [
            sys.executable, str(ROOT / "run.py"),
            "--port", "0", "--no-browser",
            "--nodes", str(self.nodes),
            "--data-dir", str(self.data_dir),
            *self.extra_args,
        ]
        self.spawned_at_s = time.monotonic()
        self._proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # A test or bench killed outright (a timeout's SIGKILL) runs no
            # finally: run.py then gets SIGTERM and stops its nodes itself.
            preexec_fn=die_with_parent(os.getpid(), signal.SIGTERM),
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError("run.py did not print its URL and token:\n" + "\n".join(self.output))
        return self

    def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:  # drained to the end so run.py never blocks on a pipe
            self.output.append(line.rstrip())
            if m := URL_LINE.search(line):
                self.url = m.group(1)
            if m := TOKEN_LINE.search(line):
                self.token = m.group(1)
            if self.url and self.token:
                self._ready.set()

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def get(self, path: str) -> Any:
        response = requests.get(self.url + path.lstrip("/"), timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(
            self.url + path.lstrip("/"),
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=HTTP_TIMEOUT_S,
        )
        response.raise_for_status()
        return response.json()

    def cluster(self) -> dict[str, Any]:
        view: dict[str, Any] = self.get("/api/cluster")
        self.node_pids.update(n["pid"] for n in view["nodes"] if n.get("pid"))
        return view

    def wait_all_up(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Seconds from spawning run.py until /api/cluster shows every node "up"."""
        deadline_s = time.monotonic() + timeout_s
        last_seen = "no answer from /api/cluster"
        while time.monotonic() < deadline_s:
            try:
                nodes = self.cluster()["nodes"]
            except requests.RequestException as exc:
                # A backend swamped by 50 starting nodes may answer late; keep asking.
                last_seen = f"/api/cluster failed: {type(exc).__name__}"
                time.sleep(POLL_INTERVAL_S)
                continue
            states = collections.Counter(n["state"] for n in nodes)
            last_seen = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
            if len(nodes) == self.nodes and states["up"] == self.nodes:
                return time.monotonic() - self.spawned_at_s
            time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(
            f"not all {self.nodes} nodes were up after {timeout_s} s (last seen: {last_seen})"
        )

    def stop(self) -> list[int]:
        """Stop run.py by pid; returns the node pids that survived it (then killed)."""
        if self._proc is None:
            return []
        if self._proc.poll() is None:
            self.node_pids.update(children_of(self._proc.pid))
            with contextlib.suppress(requests.RequestException, KeyError):
                self.cluster()
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(STOP_TIMEOUT_S)
        deadline_s = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline_s and any(pid_alive(p) for p in self.node_pids):
            time.sleep(0.1)
        survivors = sorted(p for p in self.node_pids if pid_alive(p))
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if survivors:
            progress(f"WARNING: node processes outlived run.py and were killed: {survivors}")
        return survivors
