"""Hold-and-step's REST API against a real hub, with a test playing node n1's side.

What the nodes do with the commands is checked on real processes in
tests/integration/test_hold_run.py; here: the token, the validation, that
each call sends the right command to the right node, and that what the node
reports reaches GET /api/held and the view.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from backend_testkit import NodeSocket, auth, wait_for
from flask import Flask

from cluster.schema.control import DeliverHeld, ReleaseHeld, SetHold
from cluster.schema.telemetry import HeldMessages, NodeUp

HELD = [
    {
        "id": 7,
        "dst": "n2",
        "type": "AppendEntries",
        "text": "n1→n2 AppendEntries t2",
        "since_ms": 1.0,
    },
    {
        "id": 8,
        "dst": "n3",
        "type": "AppendEntries",
        "text": "n1→n3 AppendEntries t2",
        "since_ms": 2.0,
    },
]


def holding_n1(app: Flask, node_socket: Callable[[str], NodeSocket]) -> NodeSocket:
    n1 = node_socket("n1")
    n1.send([NodeUp("n1", time.time() * 1000, 4242, "127.0.0.1:1", "127.0.0.1:2")])
    n1.send([HeldMessages("n1", time.time() * 1000, True, HELD, 0, 100)])
    client = app.test_client()
    wait_for(lambda: len(client.get("/api/held").get_json()["messages"]) == 2, "n1's report")
    return n1


def test_every_change_needs_the_token(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/api/hold", json={"on": True}).status_code == 401
    assert client.post("/api/held/deliver", json={"all": True}).status_code == 401
    assert client.get("/api/held").status_code == 200  # anyone may look


def test_hold_on_reaches_the_node_and_is_validated(
    app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1 = holding_n1(app, node_socket)
    client = app.test_client()
    bad = client.post("/api/hold", json={"on": 1}, headers=auth())
    assert bad.status_code == 400 and "on must be true or false" in bad.get_json()["error"]
    reply = client.post("/api/hold", json={"on": True}, headers=auth())
    assert reply.status_code == 200 and reply.get_json()["nodes"] == ["n1"]
    assert n1.receive_command() == SetHold(True)
    assert client.get("/api/held").get_json()["on"] is True


def test_held_messages_are_listed_with_their_node_and_in_the_view(
    app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    holding_n1(app, node_socket)
    client = app.test_client()
    body = client.get("/api/held").get_json()
    assert body["nodes"]["n1"] == {"on": True, "count": 2, "overflow": 0, "limit": 100}
    assert [(m["node"], m["id"], m["dst"]) for m in body["messages"]] == [
        ("n1", 7, "n2"),
        ("n1", 8, "n3"),
    ]
    view = client.get("/api/cluster").get_json()
    assert view["hold"]["total"] == 2 and view["hold"]["messages"][0]["text"].startswith("n1→n2")


def test_deliver_sends_exactly_the_chosen_message(
    app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1 = holding_n1(app, node_socket)
    client = app.test_client()
    reply = client.post("/api/held/deliver", json={"node": "n1", "id": 8}, headers=auth())
    assert reply.status_code == 200, reply.get_json()
    assert n1.receive_command() == DeliverHeld(8)
    # The board forgets it at once, so a second click cannot send it twice.
    assert [m["id"] for m in client.get("/api/held").get_json()["messages"]] == [7]
    again = client.post("/api/held/deliver", json={"node": "n1", "id": 8}, headers=auth())
    assert again.status_code == 400 and "holds no message 8" in again.get_json()["error"]


def test_release_all(app: Flask, node_socket: Callable[[str], NodeSocket]) -> None:
    n1 = holding_n1(app, node_socket)
    client = app.test_client()
    reply = client.post("/api/held/deliver", json={"all": True}, headers=auth())
    assert reply.status_code == 200 and reply.get_json()["released"] == ["n1"]
    assert n1.receive_command() == ReleaseHeld()
    assert client.get("/api/held").get_json()["messages"] == []


def test_bad_deliveries_say_what_is_wrong(
    app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    holding_n1(app, node_socket)
    client = app.test_client()
    cases = [
        ({"node": "n9", "id": 7}, "unknown node 'n9'"),
        ({"node": "n1", "id": "7"}, "id must be"),
        ({"node": "n1", "id": True}, "id must be"),
        ({"node": "n1"}, "id must be"),
        ({"id": 7}, "node must be"),
        ({"node": "n1", "id": 7, "all": True}, "either an id or all"),
        ({"all": "yes"}, "all must be true or false"),
    ]
    for body, expected in cases:
        reply = client.post("/api/held/deliver", json=body, headers=auth())
        assert reply.status_code == 400, body
        assert expected in reply.get_json()["error"], (body, reply.get_json())
