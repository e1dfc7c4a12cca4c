"""Helpers for the browser tests: a real ``run.py`` and a real Chromium (fixtures: conftest.py).

* ``RunPy``: the benchmarks' ``bench.run_process.RunPy`` (starts ``run.py``
  exactly as a user would, reads the URL and token it prints, stops it by
  pid and kills any node that outlived it), plus what tests ask of it and a
  stop that *fails the test* if a node process survived run.py.
* ``CHROMIUM`` / ``CHROMIUM_ARGS``: the system Chromium, headless, with
  nothing that reaches for the network (no ``playwright install`` here).

Timing: everything polls for a condition with generous deadlines; the
machine may be a busy 2-core laptop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import run_process
from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.run_process import ROOT, pid_alive

__all__ = [
    "CHROMIUM", "CHROMIUM_ARGS", "ROOT", "PageLog", "RunPy", "lab", "pid_alive", "wait_until",
]


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


class RunPy(run_process.RunPy):
    """One ``run.py`` subprocess and everything it spawned, as tests use it."""

    def __init__(self, data_dir: Path, nodes: int = 5, extra_args: tuple[str, ...] = ()) -> None:
        super().__init__(nodes, data_dir, extra_args)

    def api(self, path: str) -> Any:
        return self.get(path)

    def node(self, node_id: str) -> dict[str, Any]:
        found: dict[str, Any] = next(n for n in self.cluster()["nodes"] if n["id"] == node_id)
        return found

    def all_up(self) -> bool:
        nodes = self.cluster()["nodes"]
        return len(nodes) == self.nodes and all(n["state"] == "up" for n in nodes)

    def stop(self) -> list[int]:
        """Stop run.py by pid; a node process that outlived it fails the test."""
        survivors = super().stop()
        if survivors:
            raise AssertionError(f"node processes outlived run.py: {survivors}")
        return survivors
