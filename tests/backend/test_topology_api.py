"""The network's REST API: who may edit it, what a bad edit gets, and what the
nodes are told.

A 3-node line n1–n2–n3 with no node processes: the nodes' side of the hub
connection is played byte for byte by ``NodeSocket`` (real frames on a real
socket), so these tests see the exact commands a node would receive and the
answers built from the tables nodes report. The real probe through real
processes is in tests/integration/test_routing_run.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backend_testkit import TOKEN, NodeSocket, StandInLauncher, auth, wait_for
from flask import Flask

from backend import create_app
from backend.hub import Hub
from cluster.config import ClusterConfig
from cluster.schema.control import SetLink, SetLinks, StartTrace
from cluster.schema.telemetry import NodeUp, RouteTable, TraceResult

LS = "link-state (Dijkstra)"


@pytest.fixture
def line_app(hub: Hub, launcher: StandInLauncher) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "CLUSTERLAB_HUB": hub,
            "CLUSTERLAB_LAUNCHER": launcher,
            "CLUSTERLAB_TOKEN": TOKEN,
            "CLUSTERLAB_CLUSTER": ClusterConfig(nodes=3, topology="line"),
        }
    )
    for status in launcher.status():
        hub.on_status(status)
    yield app


def up_node(connect: Callable[[str], NodeSocket], node: str, hub: Hub) -> NodeSocket:
    """A node socket that has said NodeUp with the stand-in launcher's pid."""
    sock = connect(node)
    sock.send([NodeUp(node, 1.0, 100_000 + int(node[1:]), "a", "b")])
    wait_for(lambda: node in hub.server.connected_nodes(), f"{node} connected")
    return sock


def table(**routes: tuple[str, int]) -> dict[str, dict[str, Any]]:
    return {dst: {"next_hop": hop, "cost": cost} for dst, (hop, cost) in routes.items()}


def test_get_topology_lists_the_configured_links(line_app: Flask) -> None:
    body = line_app.test_client().get("/api/topology").get_json()
    assert body["nodes"] == ["n1", "n2", "n3"]
    assert [(x["a"], x["b"], x["up"]) for x in body["links"]] == [
        ("n1", "n2", True),
        ("n2", "n3", True),
    ]
    assert body["preset"] == "line" and body["routing"] == "link-state"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "/api/topology/links/n1/n2", {"up": False}),
        ("put", "/api/topology", {"links": [{"a": "n1", "b": "n3"}]}),
    ],
)
def test_edits_need_the_instructor_token(
    line_app: Flask, method: str, path: str, body: dict[str, Any]
) -> None:
    client = line_app.test_client()
    call = getattr(client, method)
    assert call(path, json=body).status_code == 401
    assert call(path, json=body, headers=auth(TOKEN + "x")).status_code == 401
    assert line_app.test_client().get("/api/topology").get_json()["links"][0]["up"] is True


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/topology/links/n1/n2", {"loss": 1.5}, 400, "loss must be between 0 and 1"),
        ("/api/topology/links/n1/n2", {"cost": -3}, 400, "cost must be between 1"),
        ("/api/topology/links/n1/n2", {"colour": "red"}, 400, "unknown field 'colour'"),
        ("/api/topology/links/n1/n2", {"up": "no"}, 400, "up must be true or false"),
        ("/api/topology/links/n1/n2", {}, 400, "nothing to change"),
        ("/api/topology/links/n1/n9", {"up": False}, 400, "unknown node 'n9'"),
        ("/api/topology/links/n1/n3", {"up": False}, 404, "no link n1–n3"),
    ],
)
def test_a_bad_link_edit_is_refused_naming_the_problem(
    line_app: Flask, path: str, body: dict[str, Any], status: int, words: str
) -> None:
    reply = line_app.test_client().patch(path, json=body, headers=auth())
    assert reply.status_code == status
    assert words in reply.get_json()["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"links": [{"a": "n1", "b": "n2"}]}, "not connected: no path from n1 to n3"),
        ({"links": [{"a": "n1", "b": "n2"}, {"a": "n2", "b": "n7"}]}, "unknown node 'n7'"),
        ({"links": [{"a": "n1", "b": "n2", "loss": 2}, {"a": "n2", "b": "n3"}]}, "loss"),
        ({"links": "n1-n2"}, "links must be a list"),
        ({"links": [], "nodes": ["n1", "n2"]}, "nodes cannot be added or removed"),
        ({"links": [], "wires": 3}, "unknown key 'wires'"),
    ],
)
def test_a_bad_topology_is_refused_naming_the_problem(
    line_app: Flask, body: dict[str, Any], words: str
) -> None:
    reply = line_app.test_client().put("/api/topology", json=body, headers=auth())
    assert reply.status_code == 400
    assert words in reply.get_json()["error"]


def test_cutting_a_link_tells_both_ends(
    line_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1, n2 = up_node(node_socket, "n1", hub), up_node(node_socket, "n2", hub)
    reply = line_app.test_client().patch(
        "/api/topology/links/n2/n1", json={"up": False}, headers=auth()
    )
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["commands"] == {"n1": "SetLink", "n2": "SetLink"}
    assert n1.receive_command() == SetLink("n2", False, None, 0.0, 0.0, 0.0, 1000.0)
    assert n2.receive_command() == SetLink("n1", False, None, 0.0, 0.0, 0.0, 1000.0)
    links = line_app.test_client().get("/api/topology").get_json()["links"]
    assert [x["up"] for x in links] == [False, True]
    view = line_app.test_client().get("/api/cluster").get_json()
    assert view["links"][0]["cut"] is True and view["links"][0]["up"] is False

    restore = line_app.test_client().patch(
        "/api/topology/links/n1/n2", json={"up": True, "latency_ms": 25}, headers=auth()
    )
    assert restore.status_code == 200
    assert n1.receive_command() == SetLink("n2", True, 1, 25.0, 0.0, 0.0, 1000.0)


def test_a_restarted_node_gets_its_current_links(
    line_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    body = {"links": [{"a": "n1", "b": "n2"}, {"a": "n2", "b": "n3"}, {"a": "n1", "b": "n3"}]}
    assert line_app.test_client().put("/api/topology", json=body, headers=auth()).status_code == 200
    late = node_socket("n3")  # connects only now, like a node restarted after the edit
    late.send([NodeUp("n3", 1.0, 100_003, "a", "b")])
    command = late.receive_command()
    assert isinstance(command, SetLinks)
    assert sorted(x["peer"] for x in command.links) == ["n1", "n2"]


def test_route_follows_each_nodes_own_table(
    line_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1, n2 = up_node(node_socket, "n1", hub), up_node(node_socket, "n2", hub)
    n1.send([RouteTable("n1", 2.0, LS, table(n2=("n2", 1), n3=("n2", 2)), True, [])])
    n2.send([RouteTable("n2", 2.0, LS, table(n1=("n1", 1)), False, [])])
    client = line_app.test_client()

    def route() -> Any:
        body = client.get("/api/route?src=n1&dst=n3").get_json()
        return body if body["reason"] == "n2 has no route to n3" else None

    body = wait_for(route, "n1's and n2's tables in GET /api/route")
    # n2 has not learned n3 yet: the path ends there, and says why.
    assert body["reached"] is False and body["reason"] == "n2 has no route to n3"
    assert body["cost"] == 2 and body["algorithm"] == LS
    assert body["floyd_warshall"] == {"path": None, "cost": None}  # n3 is not up

    n2.send([RouteTable("n2", 3.0, LS, table(n1=("n1", 1), n3=("n3", 1)), True, [])])
    body = wait_for(
        lambda: (b := client.get("/api/route?src=n1&dst=n3").get_json())["reached"] and b,
        "the complete path",
    )
    assert body["path"] == ["n1", "n2", "n3"]
    assert client.get("/api/route?src=n1&dst=n8").status_code == 400
    assert client.get("/api/route?src=n1").status_code == 400


def test_routes_compares_the_tables_with_floyd_warshall(
    line_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1, n2 = up_node(node_socket, "n1", hub), up_node(node_socket, "n2", hub)
    n1.send([RouteTable("n1", 2.0, LS, table(n2=("n2", 1)), True, [])])
    n2.send([RouteTable("n2", 2.0, LS, table(n1=("n1", 1), n3=("n3", 1)), True, [])])
    client = line_app.test_client()

    def compared() -> Any:
        body = client.get("/api/routes").get_json()
        return body if body["nodes"]["n2"]["table"] else None

    body = wait_for(compared, "both tables in GET /api/routes")
    # n3 is not up, so n2's route to it is stale; everything else matches.
    assert body["differences"] == [
        {"node": "n2", "dst": "n3", "expected": None, "actual": {"next_hop": "n3", "cost": 1}}
    ]
    assert body["converged"] is False
    assert body["floyd_warshall"]["dist"]["n1"] == {"n1": 0, "n2": 1}
    n2.send([RouteTable("n2", 3.0, LS, table(n1=("n1", 1)), True, [])])
    wait_for(lambda: client.get("/api/routes").get_json()["converged"], "convergence")
    assert client.get("/api/cluster").get_json()["routing"]["converged"] is True


def test_trace_validates_and_waits_for_the_probe(
    line_app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    client = line_app.test_client()

    def trace(body: dict[str, Any]) -> Any:
        return client.post("/api/trace", json=body, headers=auth())

    assert client.post("/api/trace", json={"src": "n1", "dst": "n3"}).status_code == 401
    assert trace({"src": "n1", "dst": "n7"}).status_code == 400
    assert trace({"src": 1, "dst": "n2"}).status_code == 400
    assert trace({"src": "n1", "dst": "n3"}).status_code == 409

    n1 = up_node(node_socket, "n1", hub)
    answers: list[Any] = []

    def ask() -> None:
        answers.append(client.post("/api/trace", json={"src": "n1", "dst": "n3"}, headers=auth()))

    asking = threading.Thread(target=ask)
    asking.start()
    command = n1.receive_command()
    assert isinstance(command, StartTrace) and command.target == "n3"
    hops = [["n1", 2, 10.0], ["n2", 1, 10.5], ["n3", 0, 11.25]]
    n1.send([TraceResult("n1", 12.0, command.probe_id, "n3", hops, True, "")])
    asking.join(timeout=10)
    body = answers[0].get_json()
    assert answers[0].status_code == 200
    assert body["path"] == ["n1", "n2", "n3"] and body["hop_count"] == 2
    assert [h["hop_ms"] for h in body["hops"]] == [0.0, 0.5, 0.75]
    assert body["total_ms"] == 1.25


def test_a_joined_member_gets_plain_links_to_everyone() -> None:
    from backend.topology_state import with_members
    from cluster.core.topology import preset

    line = preset("line", 3)
    grown = with_members(line, ["n1", "n2", "n3", "n4"])
    assert grown.nodes == ("n1", "n2", "n3", "n4")
    assert {(x.a, x.b) for x in grown.links} - {(x.a, x.b) for x in line.links} == {
        ("n4", "n1"), ("n4", "n2"), ("n4", "n3"),
    }  # fmt: skip
    assert with_members(line, ["n1"]) is line
