"""run.py for real: five node processes, faults through the REST API, the CLI,
and no process left behind however run.py ends.

Each test starts ``run.py --port 0 --no-browser --nodes 5`` as a user would,
reads the URL and token it prints, and drives it over HTTP. Every node pid
seen, and every process whose command line names this test's data directory,
is SIGKILLed in a ``finally``, so a failing test leaves nothing running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bench.run_process import pid_alive, pid_stopped, pids_mentioning, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODES = 5
START_DEADLINE_S = 60.0  # five Python processes on two busy cores
FAULT_DEADLINE_S = 2.0  # the promise for kill → "down"
STATE_DEADLINE_S = 30.0
EXIT_DEADLINE_S = 20.0
ORPHAN_DEADLINE_S = 10.0
HTTP_TIMEOUT_S = 15.0


@dataclass
class RunningLab:
    process: subprocess.Popen[str]
    data_dir: Path
    output: list[str] = field(default_factory=list)
    url: str = ""
    token: str = ""
    node_pids: set[int] = field(default_factory=set)

    def cluster(self) -> dict[str, Any]:
        reply = requests.get(f"{self.url}/api/cluster", timeout=HTTP_TIMEOUT_S)
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        self.node_pids.update(n["pid"] for n in body["nodes"] if n["pid"])
        return body

    def node(self, node_id: str) -> dict[str, Any]:
        return next(n for n in self.cluster()["nodes"] if n["id"] == node_id)

    def fault(self, action: str, node_id: str) -> dict[str, Any]:
        reply = requests.post(
            f"{self.url}/api/faults",
            json={"action": action, "node": node_id},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=HTTP_TIMEOUT_S,
        )
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def wait_state(self, node_id: str, state: str, deadline_s: float = STATE_DEADLINE_S) -> Any:
        return wait_for(
            lambda: (n := self.node(node_id))["state"] == state and n,
            f"{node_id} to be {state!r}",
            deadline_s,
        )

    def wait_all_up(self) -> dict[str, Any]:
        def all_up() -> dict[str, Any] | None:
            view = self.cluster()
            states = [n["state"] for n in view["nodes"]]
            return view if states == ["up"] * NODES else None

        view: dict[str, Any] = wait_for(all_up, f"{NODES} nodes up", START_DEADLINE_S)
        return view

    def printed(self) -> str:
        return "".join(self.output)


def _read_output(lab: RunningLab) -> None:
    assert lab.process.stdout is not None
    for line in lab.process.stdout:
        lab.output.append(line)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[RunningLab]:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--port", "0", "--no-browser",
         "--nodes", str(NODES), "--data-dir", str(data_dir)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    running = RunningLab(process, data_dir)
    threading.Thread(target=_read_output, args=(running,), daemon=True).start()
    try:
        def printed_token() -> bool:
            text = running.printed()
            if process.poll() is not None:
                raise AssertionError(f"run.py exited with {process.returncode}:\n{text}")
            return "Token:" in text

        wait_for(printed_token, "run.py to print its URL and token", START_DEADLINE_S)
        text = running.printed()
        url = re.search(r"Dashboard:\s+(http://\S+)", text)
        token = re.search(r"Token:\s+(\S+)", text)
        assert url and token, text
        running.url = url.group(1).rstrip("/")
        running.token = token.group(1)
        assert str(data_dir) in text
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=EXIT_DEADLINE_S)
        for pid in running.node_pids | set(pids_mentioning(str(data_dir))):
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_faults_change_real_processes_and_sigterm_leaves_none(lab: RunningLab) -> None:
    view = lab.wait_all_up()
    assert [n["id"] for n in view["nodes"]] == [f"n{i}" for i in range(1, NODES + 1)]
    pids = {n["id"]: n["pid"] for n in view["nodes"]}
    assert all(pid_alive(pid) for pid in pids.values())

    # kill: the process is gone and the view says so within two seconds
    reply = lab.fault("kill", "n2")
    assert reply["node"]["state"] == "down"
    lab.wait_state("n2", "down", FAULT_DEADLINE_S)
    assert not pid_alive(pids["n2"])

    # restart: a new process, "up" once it has announced itself
    lab.fault("restart", "n2")
    restarted = lab.wait_state("n2", "up")
    assert restarted["pid"] != pids["n2"] and pid_alive(restarted["pid"])
    assert restarted["restarts"] == 1

    # pause / resume: SIGSTOP and SIGCONT on the same process
    lab.fault("pause", "n3")
    lab.wait_state("n3", "paused")
    assert wait_for(lambda: pid_stopped(pids["n3"]), "n3 to be stopped", FAULT_DEADLINE_S)
    lab.fault("resume", "n3")
    lab.wait_state("n3", "up")
    assert not pid_stopped(pids["n3"])

    # the CLI reads the same REST API
    env = {**os.environ, "CLUSTERLAB_URL": lab.url}
    status = subprocess.run(
        [sys.executable, "-m", "cluster.client.cli", "status"],
        capture_output=True, text=True, timeout=HTTP_TIMEOUT_S, env=env, cwd=ROOT,
    )
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[1 : NODES + 1]]
    assert [r[0] for r in rows] == [f"n{i}" for i in range(1, NODES + 1)]
    assert all(r[1] == "up" for r in rows), status.stdout

    # SIGTERM: run.py stops every node and exits cleanly
    lab.cluster()  # records the current pids too
    every_pid = set(lab.node_pids)
    lab.process.send_signal(signal.SIGTERM)
    assert lab.process.wait(timeout=EXIT_DEADLINE_S) == 0, lab.printed()
    wait_for(
        lambda: not any(pid_alive(p) for p in every_pid),
        "every node process to be gone after SIGTERM",
        ORPHAN_DEADLINE_S,
    )
    assert "stopped" in lab.printed()


def test_sigkill_of_run_py_takes_every_node_with_it(lab: RunningLab) -> None:
    view = lab.wait_all_up()
    pids = [n["pid"] for n in view["nodes"]]
    lab.process.kill()  # no handler, no atexit: only the kernel can clean up now
    lab.process.wait(timeout=EXIT_DEADLINE_S)
    wait_for(
        lambda: not any(pid_alive(p) for p in pids),
        "every node process to die with run.py (PR_SET_PDEATHSIG)",
        ORPHAN_DEADLINE_S,
    )
    assert pids_mentioning(str(lab.data_dir)) == []
