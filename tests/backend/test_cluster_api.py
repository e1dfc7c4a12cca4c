"""GET /api/cluster: the view's shape, and how each node's state is derived.

The launcher's word (running / paused / down, with a pid) is merged with the
node's own NodeUp: a running process is only "up" once it has announced
itself with that very pid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from backend_testkit import RUN_ID, NodeSocket, wait_for
from flask import Flask

from backend.hub import Hub
from backend.view import ClusterView
from cluster.launcher import NodeStatus
from cluster.schema.telemetry import Counters, LinkRtt, LinkUp, NodeUp


def status(node: str, process: str, pid: int | None, restarts: int = 0) -> NodeStatus:
    return NodeStatus(node, process, pid, "127.0.0.1:7001", "127.0.0.1:8001", restarts,
                      None if pid else -9, 0.0)


def state_of(view: ClusterView, node: str) -> Any:
    return next(n["state"] for n in view.to_dict()["nodes"] if n["id"] == node)


def test_the_cluster_has_the_contract_shape(app: Flask) -> None:
    body = app.test_client().get("/api/cluster").get_json()
    assert set(body) == {
        "nodes", "links", "leader", "time_scale", "run_id", "routing", "topology",
        "history", "faults", "hold",
    }
    assert body["leader"] is None
    assert body["run_id"] == RUN_ID
    assert [n["id"] for n in body["nodes"]] == ["n1", "n2", "n3"]
    for node in body["nodes"]:
        assert set(node) >= {"id", "state", "pid", "addr", "client_addr", "rtt_ms", "counters"}
        assert node["state"] == "starting"  # spawned, but no NodeUp yet


def test_a_running_process_is_starting_until_its_nodeup() -> None:
    view = ClusterView()
    view.on_status(status("n1", "running", 11))
    assert state_of(view, "n1") == "starting"
    view.on_events("n1", [NodeUp("n1", 1.0, 11, "127.0.0.1:7001", "127.0.0.1:8001")])
    assert state_of(view, "n1") == "up"


def test_a_restart_is_starting_again_until_the_new_pid_says_nodeup() -> None:
    view = ClusterView()
    view.on_status(status("n1", "running", 11))
    view.on_events("n1", [NodeUp("n1", 1.0, 11, "a", "b"), LinkRtt("n1", 2.0, "n2", 0.4)])
    view.on_status(status("n1", "down", None))
    assert state_of(view, "n1") == "down"
    view.on_status(status("n1", "running", 12, restarts=1))
    assert state_of(view, "n1") == "starting"
    node = view.to_dict()["nodes"][0]
    assert node["rtt_ms"] == {} and node["restarts"] == 1  # the old life's RTTs are gone
    view.on_events("n1", [NodeUp("n1", 3.0, 12, "a", "b")])
    assert state_of(view, "n1") == "up"


def test_a_nodeup_that_beats_the_launcher_callback_still_counts() -> None:
    view = ClusterView()
    view.on_status(status("n1", "running", 11))
    view.on_events("n1", [NodeUp("n1", 1.0, 11, "a", "b")])
    view.on_status(status("n1", "down", None))
    view.on_events("n1", [NodeUp("n1", 2.0, 12, "a", "b")])  # the new process is quick
    view.on_status(status("n1", "running", 12, restarts=1))
    assert state_of(view, "n1") == "up"


def test_paused_and_down_come_from_the_launcher() -> None:
    view = ClusterView()
    view.on_status(status("n1", "running", 11))
    view.on_events("n1", [NodeUp("n1", 1.0, 11, "a", "b")])
    view.on_status(status("n1", "paused", 11))
    assert state_of(view, "n1") == "paused"
    view.on_status(status("n1", "running", 11))
    assert state_of(view, "n1") == "up"
    view.on_status(status("n1", "down", None))
    assert state_of(view, "n1") == "down"


def test_a_removed_node_stays_gone_when_its_last_words_trail_the_removal() -> None:
    # The launcher's "stopped" callback and a last telemetry batch arrive on
    # other threads, after Members.forget_node: they must not bring n2 back.
    view = ClusterView()
    for node, pid in (("n1", 11), ("n2", 12)):
        view.on_status(status(node, "running", pid))
        view.on_events(node, [NodeUp(node, 1.0, pid, "a", "b")])
    view.forget_node("n2")
    view.on_status(status("n2", "down", None))
    view.on_events("n2", [LinkRtt("n2", 3.0, "n1", 0.4)])
    assert [n["id"] for n in view.to_dict()["nodes"]] == ["n1"]


def test_links_are_up_while_both_ends_say_so_and_both_live() -> None:
    view = ClusterView()
    for node, pid in (("n1", 11), ("n2", 12)):
        view.on_status(status(node, "running", pid))
        view.on_events(node, [NodeUp(node, 1.0, pid, "a", "b")])
    view.on_events("n1", [LinkUp("n1", 2.0, "n2", True)])
    view.on_events("n2", [LinkUp("n2", 2.0, "n1", True)])
    assert view.to_dict()["links"] == [{"a": "n1", "b": "n2", "up": True}]
    view.on_status(status("n2", "down", None))
    assert view.to_dict()["links"] == [{"a": "n1", "b": "n2", "up": False}]


def test_counters_and_rtts_reach_the_view(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1 = node_socket("n1")
    n1.send([
        NodeUp("n1", 1.0, 100_001, "127.0.0.1:7001", "127.0.0.1:8001"),
        LinkRtt("n1", 2.0, "n2", 0.25),
        Counters("n1", 3.0, {"frames_sent": 7}),
    ])
    client = app.test_client()

    def n1_view() -> Any:
        node = client.get("/api/cluster").get_json()["nodes"][0]
        return node if node["state"] == "up" and node["counters"] else None

    node = wait_for(n1_view, "n1 up with its counters in GET /api/cluster")
    assert node["rtt_ms"] == {"n2": 0.25}
    assert node["counters"] == {"frames_sent": 7}
