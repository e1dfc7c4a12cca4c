"""The ``clusterlab`` command against a real HTTP server: a table of nodes, and
one clear line (never a stack trace) when something is wrong.

The backend runs in this process on a real port (Werkzeug, as run.py serves
it); the launcher is the validation-only stand-in, so the fault commands here
only exercise refusals. A real ``clusterlab fault`` is run in
tests/integration/test_run.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend_testkit import TOKEN

from backend.hub import Hub
from cluster.schema.telemetry import NodeUp

CLI = [sys.executable, "-m", "cluster.client.cli"]
CLI_TIMEOUT_S = 30


def clusterlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    full_env.update(env or {})
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=full_env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_status_prints_a_table_of_nodes(url: str, hub: Hub) -> None:
    hub.view.on_events("n1", [NodeUp("n1", 1.0, 100_001, "127.0.0.1:7001", "127.0.0.1:8001")])
    done = clusterlab("status", env={"CLUSTERLAB_URL": url})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NODE", "STATE", "PID", "PEER", "ADDR", "CLIENT", "ADDR",
                                "RESTARTS", "ROLE", "TERM", "COMMIT"]
    rows = {line.split()[0]: line.split() for line in lines[1:4]}
    assert rows["n1"][1:3] == ["up", "100001"]
    assert rows["n2"][1] == "starting"
    assert "leader: none" in done.stdout


def test_url_and_token_flags_work_after_the_command(url: str) -> None:
    done = clusterlab("fault", "kill", "n9", "--url", url, "--token", TOKEN)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "clusterlab: error: 400 unknown node 'n9'; nodes are n1, n2, n3"
    )


def test_a_wrong_token_is_one_line(url: str) -> None:
    done = clusterlab("--url", url, "--token", "guess", "fault", "kill", "n2")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "401 wrong instructor token" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_backend_is_one_line() -> None:
    done = clusterlab("status", "--url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot reach the clusterlab backend at http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_everywhere() -> None:
    for args in ((), ("status",), ("fault",), ("kv",), ("kv", "put"), ("kv", "get"),
                 ("kv", "del"), ("members",)):
        done = clusterlab(*args, "--help")
        assert done.returncode == 0
        assert "--url" in done.stdout and "--token" in done.stdout
