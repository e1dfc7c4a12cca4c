"""Helpers for the browser tests: a real ``run.py`` and a real Chromium (fixtures: conftest.py).

* ``RunPy``: starts ``run.py`` exactly as a user would, reads the dashboard
  URL and the instructor token from what it prints, and stops it by pid,
  then makes sure every node process it spawned is gone (killing any
  survivor by pid, and failing the test if there was one).
* ``CHROMIUM_ARGS``: the system Chromium, headless, with nothing that would
  reach for the network (no ``playwright install`` on this machine).

Timing: everything polls for a condition with generous deadlines; the
machine may be a busy 2-core laptop.
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

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# run.py prints these two lines once the dashboard is listening.
URL_LINE = re.compile(r"Dashboard:\s+(http://\S+)")
TOKEN_LINE = re.compile(r"Token:\s+(\S+)")
# Python startup + 5 node processes on a busy 2-core machine.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# run.py's output is kept for failure messages; this many lines is plenty.
OUTPUT_LINES_KEPT = 400
HTTP_TIMEOUT_S = 5.0


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 20.0, interval_s: float = 0.1, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline_s = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}")
        time.sleep(interval_s)


class PageLog:
    """Uncaught JavaScript errors of a page and every URL it requested."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.request_urls: list[str] = []


def lab(page: Any, expression: str) -> Any:
    """Evaluate ``expression`` in the page, with ``lab`` bound to ``window.clusterlab``."""
    return page.evaluate(f"() => {{ const lab = window.clusterlab; return {expression}; }}")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state != "Z"


def children_of(pid: int) -> set[int]:
    """Direct children of ``pid``, read from /proc (run.py's node processes)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


class RunPy:
    """One ``run.py`` subprocess and everything it spawned."""

    def __init__(self, data_dir: Path, nodes: int = 5, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.nodes = nodes
        self.extra_args = extra_args  # more run.py flags, e.g. ("--topology", "line")
        self.url = ""
        self.token = ""
        self.output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES_KEPT)
        self.node_pids: set[int] = set()  # every node pid ever seen, killed by pid at the end
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self) -> RunPy:
        self._proc = subprocess.Popen(
            [
                sys.executable, str(ROOT / "run.py"),
                "--port", "0", "--no-browser",
                "--nodes", str(self.nodes),
                "--data-dir", str(self.data_dir),
                *self.extra_args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._read_output, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise AssertionError(
                "run.py did not print its URL and token:\n" + "\n".join(self.output)
            )
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

    def api(self, path: str) -> Any:
        response = requests.get(self.url + path.lstrip("/"), timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()
        return response.json()

    def cluster(self) -> dict[str, Any]:
        view: dict[str, Any] = self.api("/api/cluster")
        self.node_pids.update(n["pid"] for n in view["nodes"] if n.get("pid"))
        return view

    def node(self, node_id: str) -> dict[str, Any]:
        found: dict[str, Any] = next(n for n in self.cluster()["nodes"] if n["id"] == node_id)
        return found

    def all_up(self) -> bool:
        nodes = self.cluster()["nodes"]
        return len(nodes) == self.nodes and all(n["state"] == "up" for n in nodes)

    def stop(self) -> None:
        """Stop run.py by pid (SIGTERM, then SIGKILL); then no node may survive it."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self.node_pids.update(children_of(self._proc.pid))
            with contextlib.suppress(requests.RequestException, AssertionError, KeyError):
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
            raise AssertionError(f"node processes outlived run.py: {survivors}")
