"""A real ``run.py`` with a small file store, for the files API and CLI tests.

Three node processes, 64 KiB chunks (so a file of a few hundred kilobytes
already has several chunks spread over the nodes) and RF 2 (so "which
replica serves" is a real choice). Started with the benchmarks' ``RunPy``
(bench/run_process.py): exactly as a user starts it, stopped by pid, and
any node process that outlived run.py is killed and fails the test.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from bench.run_process import ROOT, RunPy, wait_for

NODES = 3
CHUNK_BYTES = 64 * 1024
RF = 2
CONFIG_TOML = f"""
[files]
chunk_bytes = {CHUNK_BYTES}
rf = {RF}
"""
# Generous: three Python processes and a backend starting on two busy cores.
LEADER_DEADLINE_S = 60.0
HTTP_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 120.0


def random_bytes(size_bytes: int, seed: int) -> bytes:
    """Reproducible bytes that do not repeat (no two chunks alike: no accidental dedup)."""
    out = bytearray()
    counter = 0
    while len(out) < size_bytes:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size_bytes])


class FilesLab:
    def __init__(self, run: RunPy, work_dir: Path) -> None:
        self.run = run
        self.work_dir = work_dir
        self.url = run.url.rstrip("/")
        self.token = run.token

    def api(self, method: str, path: str, *, token: bool = False, **kwargs: Any
            ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        return requests.request(method, self.url + path, headers=headers,
                                timeout=HTTP_TIMEOUT_S, **kwargs)

    def leader(self) -> str:
        def elected() -> str | None:
            view = self.run.cluster()
            up = all(n["state"] == "up" for n in view["nodes"])
            return view["leader"] if up else None

        found: str = wait_for(elected, "a leader with every node up", LEADER_DEADLINE_S)
        return found

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
        env.update(CLUSTERLAB_URL=self.url, CLUSTERLAB_TOKEN=self.token,
                   PYTHONPATH=str(ROOT))
        return subprocess.run(
            [sys.executable, "-m", "cluster.client.cli", *args], capture_output=True,
            text=True, timeout=CLI_TIMEOUT_S, env=env, cwd=cwd or ROOT,
        )


def start_lab(tmp_path: Path) -> Iterator[FilesLab]:
    """Body of a module-scoped fixture: a started lab, always stopped afterwards."""
    config = tmp_path / "files.toml"
    config.write_text(CONFIG_TOML)
    run = RunPy(NODES, tmp_path / "data", ("--config", str(config)))
    try:
        run.start()
        run.wait_all_up()
        lab = FilesLab(run, tmp_path)
        lab.leader()
        yield lab
    finally:
        survivors = run.stop()
        assert not survivors, f"node processes outlived run.py: {survivors}"
