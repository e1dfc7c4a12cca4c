"""``clusterlab fault ...`` against a real HTTP server: the request each command
sends, the table it prints, and one line when the backend refuses.

The backend runs in this process on a real port; the launcher is the
validation-only stand-in, so node faults here only reach its record. A real
``clusterlab fault`` on real processes runs in tests/integration/test_faults_run.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from backend_testkit import TOKEN, StandInLauncher
from flask import Flask

from cluster.client.fault_cli import describe, format_faults

CLI = [sys.executable, "-m", "cluster.client.cli"]
CLI_TIMEOUT_S = 30


def fault(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    env.update(CLUSTERLAB_URL=url, CLUSTERLAB_TOKEN=TOKEN)
    return subprocess.run(
        [*CLI, "fault", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_network_faults_from_the_command_line(url: str, app: Flask) -> None:
    done = fault(url, "partition", "n1,n2", "n3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split() == ["ID", "KIND", "SINCE", "WHAT"]
    assert "partition" in done.stdout and "n1,n2 | n3" in done.stdout

    done = fault(url, "oneway", "--from", "n3", "--to", "n1,n2")
    assert done.returncode == 0, done.stderr
    assert "n3 → n1,n2 passes; n1,n2 → n3 is stopped" in done.stdout

    done = fault(url, "link", "n1", "n2", "--delay-ms", "50", "--loss", "0.1")
    assert done.returncode == 0, done.stderr
    assert "n1–n2 delay 50 ms ± 0, loss 10%" in done.stdout

    done = fault(url, "link", "n2", "n3", "--down", "--oneway")
    assert "n2→n3 down" in done.stdout

    listed = app.test_client().get("/api/faults").get_json()
    assert [f["kind"] for f in listed["faults"]] == ["partition", "oneway", "link", "link"]

    done = fault(url, "ls")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(" link ") == 2
    assert "rules version 4" in done.stdout

    done = fault(url, "heal")
    assert "partition" not in done.stdout and "oneway" not in done.stdout
    assert "n1–n2" in done.stdout
    done = fault(url, "heal", "--links")
    assert done.stdout.strip() == "no faults in force"


def test_node_faults_and_refusals_are_one_line(url: str, launcher: StandInLauncher) -> None:
    done = fault(url, "wipe", "n2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wipe n2: now ")
    assert launcher.calls == [("wipe", "n2")]

    done = fault(url, "partition", "n1,n2", "n2,n3")
    assert done.returncode == 1
    assert done.stderr == (
        "clusterlab: error: 400 n2 is in two groups; a node belongs to at most one\n"
    )
    done = fault(url, "link", "n1", "n2", "--loss", "2")
    assert done.returncode == 1
    assert done.stderr == "clusterlab: error: 400 loss must be between 0 and 1, got 2.0\n"


def test_help_for_every_fault_command() -> None:
    for action in ("kill", "wipe", "partition", "oneway", "heal", "link", "ls"):
        done = subprocess.run(
            [*CLI, "fault", action, "--help"], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, action
        assert "--url" in done.stdout and "--token" in done.stdout, action


def test_how_faults_are_described() -> None:
    link = {
        "id": "f4",
        "kind": "link",
        "since_ms": 1_000.0,
        "a": "n1",
        "b": "n2",
        "oneway": True,
        "up": True,
        "delay_ms": 0.0,
        "jitter_ms": 0.0,
        "loss": 0.0,
        "duplicate": 0.25,
        "reorder": 0.5,
    }
    assert describe(link) == "n1→n2 duplicate 25%, reorder 50%"
    paused = {"id": "f5", "kind": "paused", "since_ms": 2_000.0, "node": "n3"}
    assert format_faults([link, paused], now_ms=4_500.0).splitlines() == [
        "ID  KIND    SINCE      WHAT",
        "f4  link    3.5 s ago  n1→n2 duplicate 25%, reorder 50%",
        "f5  paused  2.5 s ago  n3",
    ]
