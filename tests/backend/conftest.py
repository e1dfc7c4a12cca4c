"""Fixtures for the backend tests: a real hub on a real TCP port, an app around
it, and a way to be a node (real frames over a real socket).

No node process is started here; tests/integration/test_run.py covers those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backend_testkit import RUN_ID, SECRET, TOKEN, NodeSocket, StandInLauncher
from flask import Flask

from backend import create_app, socketio
from backend.hub import Hub
from backend.server import bind
from cluster.config import ClusterConfig


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub(SECRET, run_id=RUN_ID)
    h.start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture
def launcher() -> StandInLauncher:
    return StandInLauncher(["n1", "n2", "n3"])


@pytest.fixture
def app(hub: Hub, launcher: StandInLauncher) -> Flask:
    application = create_app(
        {
            "TESTING": True,
            "CLUSTERLAB_HUB": hub,
            "CLUSTERLAB_LAUNCHER": launcher,
            "CLUSTERLAB_TOKEN": TOKEN,
            "CLUSTERLAB_CLUSTER": ClusterConfig(nodes=3),
        }
    )
    for status in launcher.status():
        hub.on_status(status)
    return application


@pytest.fixture
def live_app(app: Flask, hub: Hub) -> Flask:
    """The app with the hub's fan-out task running (stopped by ``hub``'s teardown)."""
    hub.start_fanout(socketio)
    return app


@pytest.fixture
def node_socket(hub: Hub) -> Iterator[Callable[[str], NodeSocket]]:
    opened: list[NodeSocket] = []

    def connect(node: str, secret: bytes = SECRET) -> NodeSocket:
        s = NodeSocket(hub.port, node, secret)
        opened.append(s)
        return s

    try:
        yield connect
    finally:
        for s in opened:
            s.close()


@pytest.fixture
def frontend_dir(tmp_path: Path) -> Path:
    """A small front end tree, so static tests do not depend on the real page."""
    root = tmp_path / "frontend"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>clusterlab</title>")
    (root / "js" / "main.js").write_text("export const ok = true;\n")
    for rel in (
        "socket.io-client/dist/socket.io.esm.min.js",
        "d3/dist/d3.min.js",
        "d3/package.json",
        "socket.io-client/dist/socket.io.js",
    ):
        f = root / "node_modules" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"// {rel}\n")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture
def url(app: Flask) -> Iterator[str]:
    """The app served on a real loopback port, for the CLI tests' subprocesses."""
    server = bind(app, "127.0.0.1", 0, "threading")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.close()
        thread.join(timeout=5)
