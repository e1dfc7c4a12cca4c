"""POST /api/faults and GET /api/faults: who may break the cluster, what a bad
request gets, and what reaches the nodes.

The launcher here is the validation-only stand-in (conftest.StandInLauncher):
these tests check the gate in front of it. Network faults go to a test that
plays a node's side of a real telemetry socket, so the ``SetFaults`` bytes
are the real ones. What a real kill, partition or wipe does to real
processes is checked in tests/integration/test_run.py and test_faults_run.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from backend_testkit import TOKEN, NodeSocket, StandInLauncher, auth, wait_for
from flask import Flask

from backend import create_app
from backend.hub import Hub
from cluster.config import ClusterConfig
from cluster.schema.control import SetFaults
from cluster.schema.telemetry import FaultsApplied, NodeUp

# One valid request per action: each must be refused without the token.
VALID = [
    {"action": "kill", "node": "n2"},
    {"action": "restart", "node": "n2"},
    {"action": "pause", "node": "n2"},
    {"action": "resume", "node": "n2"},
    {"action": "wipe", "node": "n2"},
    {"action": "partition", "groups": [["n1"], ["n2", "n3"]]},
    {"action": "oneway", "from": ["n1"], "to": ["n2"]},
    {"action": "heal"},
    {"action": "heal", "links": True},
    {"action": "link", "a": "n1", "b": "n2", "up": False},
]


def test_a_fault_without_a_token_is_refused(app: Flask, launcher: StandInLauncher) -> None:
    reply = app.test_client().post("/api/faults", json={"action": "kill", "node": "n2"})
    assert reply.status_code == 401
    assert "token" in reply.get_json()["error"]
    assert reply.headers["WWW-Authenticate"] == "Bearer"
    assert launcher.calls == []


def test_a_fault_with_a_wrong_token_is_refused(app: Flask, launcher: StandInLauncher) -> None:
    client = app.test_client()
    for header in (
        auth(TOKEN + "x"),
        auth(TOKEN[:-1]),
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ):
        reply = client.post("/api/faults", json={"action": "kill", "node": "n2"}, headers=header)
        assert reply.status_code == 401, header
        assert reply.get_json()["error"]
    assert launcher.calls == []


def test_the_token_is_checked_before_the_body(app: Flask) -> None:
    reply = app.test_client().post("/api/faults", data="not json")
    assert reply.status_code == 401


def test_an_unknown_node_is_a_400_that_names_the_nodes(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "kill", "node": "n9"}, headers=auth()
    )
    assert reply.status_code == 400
    error = reply.get_json()["error"]
    assert "n9" in error and "n1, n2, n3" in error
    assert launcher.calls == []


def test_an_unknown_action_is_a_400_that_lists_the_actions(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "explode", "node": "n2"}, headers=auth()
    )
    assert reply.status_code == 400
    error = reply.get_json()["error"]
    assert "explode" in error and "kill, restart, pause, resume, wipe" in error
    assert "partition, oneway, heal, link" in error
    assert launcher.calls == []


def test_malformed_bodies_are_400s(app: Flask, launcher: StandInLauncher) -> None:
    client = app.test_client()
    bad = [
        {"data": "{not json", "content_type": "application/json"},
        {"data": "kill n2", "content_type": "text/plain"},
        {"json": ["kill", "n2"]},
        {"json": {"action": "kill"}},
        {"json": {"action": "kill", "node": 2}},
    ]
    for kwargs in bad:
        reply = client.post("/api/faults", headers=auth(), **kwargs)  # type: ignore[arg-type]
        assert reply.status_code == 400, kwargs
        assert reply.is_json and reply.get_json()["error"], kwargs
    assert launcher.calls == []


def test_a_launcher_refusal_is_a_400_with_its_message(
    app: Flask, launcher: StandInLauncher
) -> None:
    launcher.down.add("n3")
    reply = app.test_client().post(
        "/api/faults", json={"action": "pause", "node": "n3"}, headers=auth()
    )
    assert reply.status_code == 400
    assert reply.get_json() == {"error": "n3 is down; restart it instead of pausing it"}


def test_a_valid_fault_passes_the_gate_and_reaches_the_launcher(
    app: Flask, launcher: StandInLauncher
) -> None:
    reply = app.test_client().post(
        "/api/faults", json={"action": "kill", "node": "n2"}, headers=auth()
    )
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["ok"] is True
    assert launcher.calls == [("kill", "n2")]
    # the reply shows the node as the launcher reported it, in the view's shape
    assert body["node"]["id"] == "n2"
    assert body["node"]["state"] == "down"
    assert set(body["node"]) >= {"id", "state", "pid", "addr", "client_addr", "rtt_ms", "counters"}


def test_auth_check(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/auth/check", headers=auth()).status_code == 200
    assert client.get("/api/auth/check", headers=auth("guess")).status_code == 401
    assert client.get("/api/auth/check").status_code == 401


def test_unknown_api_paths_answer_json(app: Flask) -> None:
    reply = app.test_client().get("/api/nothing-here")
    assert reply.status_code == 404
    assert reply.get_json()["error"]
    reply = app.test_client().delete("/api/faults")
    assert reply.status_code == 405
    assert reply.get_json()["error"]


# -- every action: the token, then the body --------------------------------


@pytest.mark.parametrize("body", VALID, ids=lambda b: f"{b['action']}")
def test_every_action_needs_the_token(
    app: Flask, launcher: StandInLauncher, body: dict[str, Any]
) -> None:
    client = app.test_client()
    for headers in ({}, auth("guess")):
        reply = client.post("/api/faults", json=body, headers=headers)
        assert reply.status_code == 401, (body, headers)
    assert launcher.calls == []
    assert client.get("/api/faults").get_json()["faults"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "wipe", "node": "n7"}, "unknown node 'n7'; nodes are n1, n2, n3"),
        ({"action": "wipe"}, "node must be a node id"),
        ({"action": "partition"}, "groups must be a non-empty list"),
        (
            {"action": "partition", "groups": [["n1", "n2"], ["n2", "n3"]]},
            "n2 is in two groups; a node belongs to at most one",
        ),
        ({"action": "partition", "groups": [["n1", "n4"]]}, "unknown node 'n4'"),
        ({"action": "partition", "groups": [["n1", "n2", "n3"]]}, "nothing would be cut"),
        ({"action": "partition", "groups": [["n1"], []]}, "group 2 must be a non-empty list"),
        ({"action": "oneway", "from": ["n1", "n2"], "to": ["n2"]}, "n2 is in both from and to"),
        ({"action": "oneway", "from": ["n1"]}, "to must be a non-empty list"),
        ({"action": "oneway", "from": "n1", "to": ["n2"]}, "from must be a non-empty list"),
        ({"action": "oneway", "from": ["n1"], "to": ["n5"]}, "unknown node 'n5'"),
        ({"action": "heal", "links": "yes"}, "links must be true or false"),
        ({"action": "heal", "id": "f99"}, "no active network fault has id 'f99'"),
        ({"action": "heal", "id": 3}, "id must be a fault id"),
        ({"action": "link", "a": "n1", "b": "n1"}, "a and b must be two different nodes"),
        ({"action": "link", "a": "n1", "b": "n6"}, "unknown node 'n6'"),
        ({"action": "link", "a": "n1"}, "b must name nodes by id"),
        (
            {"action": "link", "a": "n1", "b": "n2", "loss": 1.5},
            "loss must be between 0 and 1, got 1.5",
        ),
        ({"action": "link", "a": "n1", "b": "n2", "loss": -0.5}, "loss must be between 0 and 1"),
        ({"action": "link", "a": "n1", "b": "n2", "duplicate": 2}, "duplicate must be between"),
        ({"action": "link", "a": "n1", "b": "n2", "reorder": "x"}, "reorder must be between"),
        ({"action": "link", "a": "n1", "b": "n2", "delay_ms": -1}, "delay_ms must be between"),
        ({"action": "link", "a": "n1", "b": "n2", "jitter_ms": 1e9}, "jitter_ms must be between"),
        ({"action": "link", "a": "n1", "b": "n2", "up": "down"}, "up must be true or false"),
        ({"action": "link", "a": "n1", "b": "n2", "latency": 5}, "unknown link field 'latency'"),
    ],
)
def test_bad_requests_are_400s_that_say_what_is_wrong(
    app: Flask, launcher: StandInLauncher, body: dict[str, Any], message: str
) -> None:
    client = app.test_client()
    reply = client.post("/api/faults", json=body, headers=auth())
    assert reply.status_code == 400, body
    assert message in reply.get_json()["error"], reply.get_json()
    assert launcher.calls == []
    assert client.get("/api/faults").get_json()["faults"] == []


def test_a_link_fault_needs_a_link_in_the_topology(hub: Hub, launcher: StandInLauncher) -> None:
    app = create_app(
        {
            "TESTING": True,
            "CLUSTERLAB_HUB": hub,
            "CLUSTERLAB_LAUNCHER": launcher,
            "CLUSTERLAB_TOKEN": TOKEN,
            "CLUSTERLAB_CLUSTER": ClusterConfig(nodes=3, topology="line"),
        }
    )
    client = app.test_client()
    reply = client.post(
        "/api/faults", json={"action": "link", "a": "n1", "b": "n3"}, headers=auth()
    )
    assert reply.status_code == 400
    assert reply.get_json()["error"] == (
        "n1 and n3 are not linked in the topology; a link fault acts on a link"
    )
    reply = client.post(
        "/api/faults", json={"action": "link", "a": "n2", "b": "n3", "loss": 0.5}, headers=auth()
    )
    assert reply.status_code == 200


# -- what is recorded, listed and sent --------------------------------------


def post(app: Flask, body: dict[str, Any]) -> dict[str, Any]:
    reply = app.test_client().post("/api/faults", json=body, headers=auth())
    assert reply.status_code == 200, reply.get_json()
    answer: dict[str, Any] = reply.get_json()
    return answer


def kinds(faults: list[dict[str, Any]]) -> list[str]:
    return [f["kind"] for f in faults]


def test_network_faults_are_listed_with_ids_and_heal_removes_them(app: Flask) -> None:
    before_ms = time.time() * 1000
    answer = post(app, {"action": "partition", "groups": [["n1"], ["n2"]]})
    assert answer["ok"] is True
    [partition] = answer["faults"]
    assert partition["kind"] == "partition" and partition["id"].startswith("f")
    assert partition["groups"] == [["n1"], ["n2"], ["n3"]]  # the unlisted node: one more group
    assert partition["since_ms"] >= before_ms
    # a new partition replaces the old one
    answer = post(app, {"action": "partition", "groups": [["n1", "n2"], ["n3"]]})
    assert [f["groups"] for f in answer["faults"]] == [[["n1", "n2"], ["n3"]]]
    post(app, {"action": "oneway", "from": ["n3"], "to": ["n1"]})
    post(app, {"action": "oneway", "from": ["n3"], "to": ["n1"]})  # the same rule: kept once
    answer = post(app, {"action": "link", "a": "n1", "b": "n2", "delay_ms": 20, "loss": 0.1})
    assert kinds(answer["faults"]) == ["partition", "oneway", "link"]
    link = answer["faults"][2]
    assert (link["a"], link["b"], link["oneway"]) == ("n1", "n2", False)
    assert (link["up"], link["delay_ms"], link["loss"], link["reorder"]) == (True, 20.0, 0.1, 0.0)
    listed = app.test_client().get("/api/faults").get_json()
    assert listed["faults"] == answer["faults"]
    assert listed["version"] == answer["version"] == 4  # the repeated rule changed nothing

    # heal: partitions and one-way rules go, link faults stay unless asked
    assert kinds(post(app, {"action": "heal"})["faults"]) == ["link"]
    assert post(app, {"action": "heal", "links": True})["faults"] == []


def test_link_faults_per_direction_and_heal_by_id(app: Flask) -> None:
    post(app, {"action": "link", "a": "n1", "b": "n2", "loss": 0.2})
    answer = post(app, {"action": "link", "a": "n2", "b": "n1", "oneway": True, "up": False})
    links = answer["faults"]
    assert [(f["a"], f["b"], f["oneway"], f["up"]) for f in links] == [
        ("n1", "n2", True, True),  # what is left of the first request
        ("n2", "n1", True, False),
    ]
    # a neutral fault restores the direction
    answer = post(app, {"action": "link", "a": "n2", "b": "n1", "oneway": True, "up": True})
    assert [(f["a"], f["b"]) for f in answer["faults"]] == [("n1", "n2")]
    answer = post(app, {"action": "heal", "id": answer["faults"][0]["id"]})
    assert answer["faults"] == []


def test_node_faults_are_listed_and_cleared_by_their_opposite(
    app: Flask, hub: Hub, launcher: StandInLauncher
) -> None:
    post(app, {"action": "kill", "node": "n3"})
    hub.on_status(launcher.status()[2])  # the launcher's callback, as run.py wires it
    [down] = app.test_client().get("/api/faults").get_json()["faults"]
    assert (down["kind"], down["node"]) == ("down", "n3")
    reply = app.test_client().post(
        "/api/faults", json={"action": "heal", "id": down["id"]}, headers=auth()
    )
    assert reply.status_code == 400
    assert "restart n3 instead" in reply.get_json()["error"]
    answer = post(app, {"action": "wipe", "node": "n3"})
    assert answer["node"]["id"] == "n3"
    assert launcher.calls == [("kill", "n3"), ("wipe", "n3")]
    hub.on_status(launcher.status()[2])
    assert app.test_client().get("/api/faults").get_json()["faults"] == []


def node_sees(node_socket: Callable[[str], NodeSocket], node: str) -> NodeSocket:
    sock = node_socket(node)
    sock.send([NodeUp(node, time.time() * 1000, 4000, "127.0.0.1:1", "127.0.0.1:2")])
    return sock


def test_every_node_gets_the_rules_and_a_node_that_connects_later_too(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1 = node_sees(node_socket, "n1")
    wait_for(lambda: hub.view.node_dict("n1") is not None, "n1 in the view")
    post(app, {"action": "partition", "groups": [["n1"], ["n2", "n3"]]})
    command = n1.receive_command()
    assert isinstance(command, SetFaults)
    assert (command.version, command.partition) == (1, [["n1"], ["n2", "n3"]])
    post(app, {"action": "link", "a": "n1", "b": "n3", "reorder": 0.5, "oneway": True})
    command = n1.receive_command()
    assert command.version == 2
    assert command.links == [
        {
            "src": "n1",
            "dst": "n3",
            "up": True,
            "delay_ms": 0.0,
            "jitter_ms": 0.0,
            "loss": 0.0,
            "duplicate": 0.0,
            "reorder": 0.5,
        }
    ]
    # n2 (re)starts now: it gets the rules in force at once
    n2 = node_sees(node_socket, "n2")
    later = n2.receive_command()
    assert isinstance(later, SetFaults) and later.version == 2
    assert later.partition == command.partition
    # what the nodes confirm shows in GET /api/faults
    n2.send([FaultsApplied("n2", time.time() * 1000, 2, ["n1"], {})])
    applied = wait_for(
        lambda: app.test_client().get("/api/faults").get_json()["applied"].get("n2"),
        "n2's confirmation",
    )
    assert applied == 2


def test_the_view_carries_the_active_faults(app: Flask, hub: Hub) -> None:
    assert app.test_client().get("/api/cluster").get_json()["faults"] == []
    hub.view.take_changes(details_too=True)
    post(app, {"action": "oneway", "from": ["n1"], "to": ["n2", "n3"]})
    assert hub.view.take_changes(details_too=False)  # browsers get a new view now
    [oneway] = app.test_client().get("/api/cluster").get_json()["faults"]
    assert (oneway["kind"], oneway["from"], oneway["to"]) == ("oneway", ["n1"], ["n2", "n3"])
