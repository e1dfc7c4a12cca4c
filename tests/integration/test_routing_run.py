"""The network through run.py and its REST API, as the dashboard uses it.

``run.py --topology line --nodes 5`` for real: a traceroute through five
processes, the global Floyd-Warshall view agreeing with every node's own
table, and a link cut with the instructor token that really partitions the
line. Every process is killed by pid in a ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from launcher_testkit import kill_pids

from bench.run_process import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODES = 5
START_DEADLINE_S = 60.0
CONVERGE_DEADLINE_S = 30.0
HTTP_TIMEOUT_S = 15.0


class Lab:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.pids: set[int] = set()

    def get(self, path: str) -> Any:
        reply = requests.get(f"{self.url}{path}", timeout=HTTP_TIMEOUT_S)
        reply.raise_for_status()
        body = reply.json()
        if path == "/api/cluster":
            self.pids.update(n["pid"] for n in body["nodes"] if n["pid"])
        return body

    def send(self, method: str, path: str, body: Any, token: bool = True) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        return requests.request(
            method, f"{self.url}{path}", json=body, headers=headers, timeout=HTTP_TIMEOUT_S
        )


@pytest.fixture
def line_lab(tmp_path: Path) -> Iterator[Lab]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLUSTERLAB_")}
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "--port", "0",
            "--no-browser",
            "--nodes", str(NODES),
            "--topology", "line",
            "--data-dir", str(tmp_path / "data"),
        ],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        output.extend(process.stdout)

    threading.Thread(target=read, daemon=True).start()
    lab: Lab | None = None
    try:
        text = wait_for(
            lambda: "Token:" in "".join(output) and "".join(output),
            "run.py to print its URL",
            START_DEADLINE_S,
        )
        url = re.search(r"Dashboard:\s+(http://\S+)", text)
        token = re.search(r"Token:\s+(\S+)", text)
        assert url and token, text
        assert "line topology, link-state routing" in text
        lab = Lab(url.group(1).rstrip("/"), token.group(1))
        yield lab
    finally:
        if lab is not None:
            with contextlib.suppress(requests.RequestException):
                lab.get("/api/cluster")
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if lab is not None:
            kill_pids(lab.pids)


def test_trace_routes_and_a_cut_through_the_rest_api(line_lab: Lab) -> None:
    lab = line_lab
    wait_for(
        lambda: [n["state"] for n in lab.get("/api/cluster")["nodes"]] == ["up"] * NODES,
        "five nodes up",
        START_DEADLINE_S,
    )
    wait_for(
        lambda: lab.get("/api/routes")["converged"], "the tables to match", CONVERGE_DEADLINE_S
    )
    view = lab.get("/api/cluster")
    assert view["routing"]["converged"] is True
    assert [(x["a"], x["b"]) for x in view["links"]] == [
        ("n1", "n2"), ("n2", "n3"), ("n3", "n4"), ("n4", "n5"),
    ]  # fmt: skip
    assert all(x["latency_ms"] == 0.0 and x["cost"] == 1 for x in view["links"])

    route = lab.get("/api/route?src=n1&dst=n5")
    assert route["path"] == ["n1", "n2", "n3", "n4", "n5"]
    assert route["cost"] == 4 and route["algorithm"] == "link-state (Dijkstra)"

    # a probe makes the cluster send a message: only the instructor may
    assert lab.send("POST", "/api/trace", {"src": "n1", "dst": "n5"}, False).status_code == 401
    traced = lab.send("POST", "/api/trace", {"src": "n1", "dst": "n5"})
    assert traced.status_code == 200, traced.text
    body = traced.json()
    assert body["reached"] and body["hop_count"] == 4
    assert body["path"] == ["n1", "n2", "n3", "n4", "n5"]
    assert all(h["hop_ms"] >= 0 for h in body["hops"])

    # Cutting a link needs the token, and then really splits the line in two.
    assert lab.send("PATCH", "/api/topology/links/n2/n3", {"up": False}, False).status_code == 401
    cut = lab.send("PATCH", "/api/topology/links/n2/n3", {"up": False})
    assert cut.status_code == 200, cut.text

    def split() -> Any:
        answer = lab.send("POST", "/api/trace", {"src": "n1", "dst": "n5"}).json()
        return answer if answer.get("reason") == "no_route" else None

    # At first the probe may still reach n2 before it stops; once the cut has
    # flooded, n1 itself knows that n5 is unreachable (link-state: the whole map).
    wait_for(split, "the trace to stop at the cut", CONVERGE_DEADLINE_S)
    wait_for(lambda: lab.get("/api/routes")["converged"], "reconverged", CONVERGE_DEADLINE_S)
    answer = split()
    assert answer["reached"] is False and answer["path"] == ["n1"]
    links = lab.get("/api/cluster")["links"]
    assert [x["cut"] for x in links] == [False, True, False, False]

    restore = lab.send("PATCH", "/api/topology/links/n2/n3", {"up": True})
    assert restore.status_code == 200
    wait_for(
        lambda: lab.get("/api/route?src=n1&dst=n5")["reached"], "the way back", CONVERGE_DEADLINE_S
    )
