"""/api/kv, /api/members and the Raft fields of /api/cluster, without node processes.

What is checked here is what the backend decides on its own: which requests
it refuses (400, 401, 413), which node it sends a request to, the 503 that
says why when no node can take it (none up, the chosen one down, the
connection refused or dropped), and how the nodes' RaftState telemetry,
sent over a real telemetry socket, becomes ``leader`` and each node's role.
A node that really commits a write is in tests/integration/test_kv_run.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from backend_testkit import TOKEN, NodeSocket, StandInLauncher, auth, wait_for
from flask import Flask

from backend import create_app
from backend.hub import Hub
from backend.kv_gateway import key_path
from cluster.config import ClusterConfig
from cluster.schema.telemetry import LogAppended, NodeUp, RaftState, SnapshotSaved

PID = {"n1": 100_001, "n2": 100_002, "n3": 100_003}  # the stand-in launcher's pids


def raft_state(node: str, role: str, term: int, commit_index: int = 0) -> RaftState:
    return RaftState(node, 1.0, role, term, None, node if role == "leader" else None,
                     commit_index, commit_index, commit_index, 0, ["n1", "n2", "n3"], 3, 10,
                     "always")


def node_up(node: str, client_addr: str) -> NodeUp:
    return NodeUp(node, 1.0, PID[node], f"127.0.0.1:{7000 + int(node[1:])}", client_addr)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def watch_app(hub: Hub) -> Flask:
    """An app without a launcher: nodes are known from telemetry, addresses from NodeUp."""
    return create_app({"TESTING": True, "CLUSTERLAB_HUB": hub, "CLUSTERLAB_TOKEN": TOKEN,
                       "CLUSTERLAB_CLUSTER": ClusterConfig(nodes=3)})


@pytest.fixture
def hanging_node() -> Iterator[str]:
    """A real TCP server that reads a request and closes without answering (a killed node)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # closed by the fixture's teardown
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        yield address
    finally:
        stop.set()
        with contextlib.suppress(OSError):  # wake the accept() so the thread sees stop
            socket.create_connection(listener.getsockname(), timeout=1).close()
        thread.join(timeout=5)
        listener.close()


def up(node_socket: Callable[[str], NodeSocket], hub: Hub, node: str, client_addr: str,
       *events: object) -> NodeSocket:
    s = node_socket(node)
    s.send([node_up(node, client_addr), *events])
    wait_for(lambda: (hub.view.node_dict(node) or {}).get("state") == "up", f"{node} up")
    return s


# -- validation -------------------------------------------------------------


def test_a_bad_consistency_is_a_400_that_lists_the_choices(app: Flask) -> None:
    reply = app.test_client().get("/api/kv/k?consistency=eventual")
    assert reply.status_code == 400
    assert "linearizable, stale" in reply.get_json()["error"]


def test_an_unknown_entry_node_is_a_400_that_names_the_nodes(app: Flask) -> None:
    reply = app.test_client().put("/api/kv/k?node=n9", data=b"v", headers=auth())
    assert reply.status_code == 400
    error = reply.get_json()["error"]
    assert "n9" in error and "n1, n2, n3" in error


def test_too_long_a_key_and_too_big_a_value_are_refused(app: Flask) -> None:
    client = app.test_client()
    assert client.put("/api/kv/" + "k" * 1025, data=b"v", headers=auth()).status_code == 400
    reply = client.put("/api/kv/k", data=b"x" * (1024 * 1024 + 1), headers=auth())
    assert reply.status_code == 413
    assert "at most" in reply.get_json()["error"]


def test_with_no_node_up_a_request_is_a_503_that_says_so(app: Flask) -> None:
    # the stand-in's processes are "starting": spawned, no NodeUp yet
    for call in (lambda c: c.put("/api/kv/k", data=b"v", headers=auth()),
                 lambda c: c.get("/api/kv/k"),
                 lambda c: c.delete("/api/kv/k", headers=auth())):
        reply = call(app.test_client())
        assert reply.status_code == 503
        assert reply.get_json()["error"] == "no node is up to take the request"


def test_a_chosen_node_that_is_down_is_a_503(
    app: Flask, hub: Hub, launcher: StandInLauncher
) -> None:
    launcher.down.add("n2")
    hub.on_status(launcher.status()[1])
    reply = app.test_client().get("/api/kv/k?node=n2&consistency=stale")
    assert reply.status_code == 503
    assert reply.get_json()["error"] == "n2 is down; it cannot serve requests"


def test_a_refused_connection_is_a_503_naming_the_node(
    watch_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    up(node_socket, hub, "n1", f"127.0.0.1:{closed_port()}")
    reply = watch_app.test_client().put("/api/kv/k", data=b"v", headers=auth())
    assert reply.status_code == 503
    assert reply.get_json()["error"].startswith("n1 refused the connection")


def test_a_refused_connection_falls_through_to_the_next_node(
    watch_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket],
    hanging_node: str,
) -> None:
    app = watch_app
    # n1 leads but refuses; the request never left, so n2 may take it (and
    # n2, a dead node that closes without answering, makes the outcome unknown)
    up(node_socket, hub, "n1", f"127.0.0.1:{closed_port()}", raft_state("n1", "leader", 2))
    up(node_socket, hub, "n2", hanging_node, raft_state("n2", "follower", 2))
    wait_for(lambda: app.test_client().get("/api/cluster").get_json()["leader"] == "n1",
             "n1 to be the leader")
    reply = app.test_client().put("/api/kv/k", data=b"v", headers=auth())
    assert reply.status_code == 503
    error = reply.get_json()["error"]
    assert error.startswith("n2 closed the connection before answering")
    assert "outcome is unknown" in error


def test_keys_are_escaped_for_the_node() -> None:
    assert key_path("a/b?c=d e") == "/kv/a%2Fb%3Fc%3Dd%20e"


# -- members ----------------------------------------------------------------


def test_members_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/api/members", json={"action": "add"}).status_code == 401
    reply = client.post("/api/members", json={"action": "add"}, headers=auth(TOKEN + "x"))
    assert reply.status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"action": "grow"}, "add, remove"),
        ({"action": None}, "action"),
        ({"action": "remove"}, "needs the node"),
        ({"action": "add", "node": "../n6"}, "node id"),
        ({"action": "add", "node": 6}, "node id"),
    ],
)
def test_a_bad_members_request_is_a_400(app: Flask, body: dict[str, object], words: str) -> None:
    reply = app.test_client().post("/api/members", json=body, headers=auth())
    assert reply.status_code == 400, reply.get_json()
    assert words in reply.get_json()["error"]


def test_members_with_a_launcher_that_cannot_add_is_a_503(app: Flask) -> None:
    # the stand-in launcher has no add_node / remove_node
    reply = app.test_client().post("/api/members", json={"action": "add"}, headers=auth())
    assert reply.status_code == 503
    assert "cannot add or remove" in reply.get_json()["error"]

def test_members_without_a_launcher_is_a_503(watch_app: Flask) -> None:
    reply = watch_app.test_client().post(
        "/api/members", json={"action": "remove", "node": "n2"}, headers=auth()
    )
    assert reply.status_code == 503
    assert "without a launcher" in reply.get_json()["error"]


# -- the Raft view ----------------------------------------------------------


def test_the_cluster_view_names_the_leader_and_each_role(
    app: Flask, hub: Hub, launcher: StandInLauncher, node_socket: Callable[[str], NodeSocket]
) -> None:
    up(node_socket, hub, "n1", "127.0.0.1:8001", raft_state("n1", "leader", 3, commit_index=7))
    up(node_socket, hub, "n2", "127.0.0.1:8002", raft_state("n2", "follower", 3, commit_index=6))
    client = app.test_client()
    view = wait_for(
        lambda: (v := client.get("/api/cluster").get_json())["leader"] == "n1" and v, "n1 leads"
    )
    nodes = {n["id"]: n for n in view["nodes"]}
    assert nodes["n1"]["role"] == "leader" and nodes["n1"]["commit_index"] == 7
    assert nodes["n2"]["role"] == "follower" and nodes["n2"]["term"] == 3
    assert nodes["n3"]["role"] is None  # no RaftState yet
    for field in ("term", "commit_index", "last_applied", "log_length", "snapshot_index",
                  "client_addr"):
        assert field in nodes["n3"]

    # A killed leader's last word was "leader"; it must not be named any more.
    launcher.down.add("n1")
    hub.on_status(launcher.status()[0])
    view = client.get("/api/cluster").get_json()
    assert view["leader"] is None
    assert next(n for n in view["nodes"] if n["id"] == "n1")["role"] is None


def test_of_two_nodes_that_say_leader_the_higher_term_wins(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    # n1 was paused while leading in term 3; n2 was elected in term 4
    up(node_socket, hub, "n1", "127.0.0.1:8001", raft_state("n1", "leader", 3))
    up(node_socket, hub, "n2", "127.0.0.1:8002", raft_state("n2", "leader", 4))
    client = app.test_client()
    wait_for(lambda: client.get("/api/cluster").get_json()["leader"] == "n2", "n2 leads")


def test_api_raft_keeps_each_nodes_log_tail_with_truncation(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    s = up(node_socket, hub, "n2", "127.0.0.1:8002", raft_state("n2", "follower", 2))
    s.send([
        LogAppended("n2", 2.0, 1, [[1, 1, "noop", "no-op"], [2, 1, "normal", "put a=1"],
                                   [3, 1, "normal", "put b=2"]]),
        # a new leader overwrites index 3 (log matching: everything from 3 on goes)
        LogAppended("n2", 3.0, 3, [[3, 2, "noop", "no-op"]]),
        SnapshotSaved("n2", 4.0, 1, 1, 100, "compact"),
    ])
    client = app.test_client()
    raft = wait_for(
        lambda: (r := client.get("/api/raft").get_json())["nodes"].get("n2", {}).get("log")
        == [[2, 1, "normal", "put a=1"], [3, 2, "noop", "no-op"]] and r,
        "n2's log tail",
    )
    assert raft["nodes"]["n2"]["role"] == "follower"
    assert raft["nodes"]["n2"]["election_timeout_ticks"] == 10
