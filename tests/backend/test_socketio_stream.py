"""What a browser receives over Socket.IO: the view first, then batched events,
stats once a second, and a new view when a node comes up.

Telemetry enters the hub the way a node sends it: real authenticated frames
over a real TCP connection. The clients here present the instructor token,
so they get the full stream; what read-only viewers get is in
test_viewer_stream.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from backend_testkit import SECRET, TOKEN, NodeSocket, wait_for
from flask import Flask

from backend import socketio
from backend.audience import MAX_EVENT_BATCHES_IN_FLIGHT
from backend.hub import MAX_SHEDDABLE_AGE_MS, Hub
from cluster.schema.control import SetLoad, SetTimeScale
from cluster.schema.telemetry import MsgReceived, MsgSent, NodeUp, expand_wire_events


class Inbox:
    """Everything one Socket.IO test client received, accumulated across polls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.messages: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        self.messages.extend(self.client.get_received())
        return self.messages

    def named(self, name: str) -> list[Any]:
        return [m["args"][0] for m in self.poll() if m["name"] == name]

    def events(self) -> list[dict[str, Any]]:
        return [
            e for b in self.named("events") for e in expand_wire_events(b["events"], b["rows"])
        ]


def instructor_client(app: Flask) -> Any:
    """A Socket.IO test client that presented the token in its handshake."""
    return socketio.test_client(app, auth={"token": TOKEN})


def msg(node: str, seq: int, t_ms: float | None = None) -> MsgReceived:
    # Fresh by default: the hub sheds traffic events older than MAX_SHEDDABLE_AGE_MS.
    t_ms = time.time() * 1000.0 if t_ms is None else t_ms
    return MsgReceived(node, t_ms, "n2", node, seq, "Heartbeat", "n2", 48)


def test_a_late_browser_first_receives_the_view(live_app: Flask) -> None:
    client = socketio.test_client(live_app)
    try:
        first = client.get_received()[0]
        assert first["name"] == "view"
        view = first["args"][0]
        assert [n["id"] for n in view["nodes"]] == ["n1", "n2", "n3"]
        assert set(view) == {
            "nodes", "links", "leader", "time_scale", "run_id", "routing", "topology",
            "history", "faults", "hold",
        }
    finally:
        client.disconnect()


def test_telemetry_reaches_the_browser_as_events_stats_and_view(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    client = instructor_client(live_app)
    inbox = Inbox(client)
    try:
        n1 = node_socket("n1")
        n1.send([NodeUp("n1", 1.0, 100_001, "127.0.0.1:7001", "127.0.0.1:8001")], 0)
        sent_ms = time.time() * 1000.0
        n1.send([msg("n1", seq, sent_ms) for seq in range(10)], dropped_total=3)

        def ten_messages() -> bool:
            return len([e for e in inbox.events() if e["type"] == "MsgReceived"]) == 10

        wait_for(ten_messages, "10 MsgReceived events in `events` batches")
        batch = inbox.named("events")[0]
        assert isinstance(batch["t_ms"], float)
        received = [e for e in inbox.events() if e["type"] == "MsgReceived"]
        assert [e["seq"] for e in received] == list(range(10))
        assert received[0] == {
            "type": "MsgReceived", "node": "n1", "t_ms": sent_ms, "src": "n2", "dst": "n1",
            "seq": 0, "kind": "Heartbeat", "frm": "n2", "size_bytes": 48,
        }

        def n1_up() -> bool:
            views = inbox.named("view")
            return bool(views) and views[-1]["nodes"][0]["state"] == "up"

        wait_for(n1_up, "a `view` with n1 up after its NodeUp")

        def stats_with_traffic() -> Any:
            return next((s for s in inbox.named("stats") if s["msgs_per_s"] > 0), None)

        stats = wait_for(stats_with_traffic, "`stats` counting the messages", deadline_s=5.0)
        assert stats["events_per_s"] >= stats["msgs_per_s"] > 0
        assert stats["telemetry_dropped"] == {"n1": 3}
        assert stats["hub_dropped"] == 0
    finally:
        client.disconnect()


def test_events_are_sent_in_batches_not_one_emit_each(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    client = instructor_client(live_app)
    inbox = Inbox(client)
    try:
        n1 = node_socket("n1")
        for start in range(0, 500, 50):
            n1.send([msg("n1", seq) for seq in range(start, start + 50)])
        wait_for(lambda: len(inbox.events()) >= 500, "500 events")
        assert len(inbox.named("events")) < 50  # 10 frames, a few emits: batched
    finally:
        client.disconnect()


def test_a_full_outbox_drops_the_oldest_and_counts_them(
    node_socket: Callable[[str], NodeSocket],
) -> None:
    from backend import create_app

    hub = Hub(SECRET, outbox_limit=5)
    hub.start()
    try:
        app = create_app({"CLUSTERLAB_HUB": hub})
        client = socketio.test_client(app)
        inbox = Inbox(client)
        sender = NodeSocket(hub.port, "n1")
        try:
            # one batch of 8 arrives before the fan-out runs: 3 must go
            sender.send([msg("n1", seq) for seq in range(8)])
            wait_for(lambda: len(hub.recent_events(100)) == 8, "the batch to arrive")
            hub.start_fanout(socketio)
            wait_for(lambda: len(inbox.events()) >= 5, "the 5 newest events")
            assert [e["seq"] for e in inbox.events()] == [3, 4, 5, 6, 7]
            stats = wait_for(lambda: inbox.named("stats")[1:], "a stats message")[0]
            assert stats["hub_dropped"] == 3
        finally:
            sender.close()
            client.disconnect()
    finally:
        hub.stop()


def test_commands_reach_the_node_on_its_telemetry_connection(
    hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    n1 = node_socket("n1")
    n1.send([NodeUp("n1", 1.0, 1, "a", "b")])
    wait_for(lambda: hub.server.connected_nodes() == ["n1"], "n1 to be registered")
    assert hub.send_command("n1", SetTimeScale(10.0))
    assert n1.receive_command() == SetTimeScale(10.0)
    assert not hub.send_command("n7", SetTimeScale(10.0))  # not connected: says so


def test_time_scale_and_load_go_to_every_node_and_to_latecomers(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    from backend_testkit import auth

    n1 = node_socket("n1")
    n1.send([NodeUp("n1", 1.0, 1, "a", "b")])
    wait_for(lambda: hub.server.connected_nodes() == ["n1"], "n1 to be registered")
    client = app.test_client()

    reply = client.post("/api/time-scale", json={"time_scale": 10}, headers=auth())
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["nodes"] == ["n1"]
    assert n1.receive_command() == SetTimeScale(10.0)
    assert client.get("/api/cluster").get_json()["time_scale"] == 10.0

    reply = client.post("/api/load", json={"msgs_per_s": 500}, headers=auth())
    assert reply.status_code == 200
    assert n1.receive_command() == SetLoad(500)

    # a node restarted later is told both as soon as it connects
    n2 = node_socket("n2")
    n2.send([NodeUp("n2", 1.0, 2, "a", "b")])
    assert {n2.receive_command(), n2.receive_command()} == {SetTimeScale(10.0), SetLoad(500)}

    refused = [
        ("/api/time-scale", {"time_scale": 1000}, auth()),
        ("/api/time-scale", {"time_scale": "x"}, auth()),
        ("/api/load", {"msgs_per_s": -1}, auth()),
    ]
    for path, body, headers in refused:
        assert client.post(path, json=body, headers=headers).status_code == 400, body
    assert client.post("/api/load", json={"msgs_per_s": 5}).status_code == 401


def test_a_connection_with_bad_frames_is_closed_and_others_carry_on(
    hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    intruder = NodeSocket(hub.port, "n1", b"w" * 32)  # wrong secret: bad tag
    try:
        intruder.send([MsgSent("n1", 1.0, "n1", "n2", 1, "Heartbeat", "n2", 48)])
        assert intruder.sock.recv(1) == b""  # the hub hung up
    finally:
        intruder.close()
    assert hub.server.bad_frames == 1
    honest = node_socket("n2")
    honest.send([NodeUp("n2", 1.0, 2, "a", "b")])
    wait_for(lambda: hub.server.connected_nodes() == ["n2"], "the honest node to be served")


def test_stale_traffic_events_are_dropped_and_counted_not_sent_late(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    client = instructor_client(live_app)
    inbox = Inbox(client)
    try:
        n1 = node_socket("n1")
        stale_ms = time.time() * 1000.0 - 10 * MAX_SHEDDABLE_AGE_MS
        n1.send([msg("n1", seq, stale_ms) for seq in range(4)])
        n1.send([msg("n1", seq) for seq in range(4, 6)])
        # (the hub's own NodeState records may come too: only traffic counts here)
        def traffic() -> list[dict[str, Any]]:
            return [e for e in inbox.events() if e["type"] == "MsgReceived"]

        wait_for(lambda: len(traffic()) >= 2, "the 2 fresh events")
        stats = wait_for(
            lambda: next((s for s in inbox.named("stats") if s["hub_dropped"]), None),
            "`stats` counting the stale events",
        )
        assert stats["hub_dropped"] == 4
        assert [e["seq"] for e in traffic()] == [4, 5]
    finally:
        client.disconnect()


def test_a_page_that_stops_acknowledging_gets_nothing_more_until_it_catches_up(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    client = instructor_client(live_app)
    inbox = Inbox(client)
    try:
        n1 = node_socket("n1")
        client.emit("events_ack", 0)  # a page that acknowledges is flow-controlled
        next_seq = 0

        def send_until(condition: Callable[[], bool], what: str) -> None:
            def step() -> bool:
                nonlocal next_seq
                n1.send([msg("n1", next_seq)])
                next_seq += 1
                time.sleep(0.02)
                return condition()

            wait_for(step, what)

        limit = MAX_EVENT_BATCHES_IN_FLIGHT
        send_until(lambda: len(inbox.named("events")) >= limit, "batches up to the limit")
        end_s = time.monotonic() + 0.5  # a dozen ticks with fresh events for it
        send_until(lambda: time.monotonic() > end_s, "half a second of traffic")
        assert len(inbox.named("events")) == limit  # all unacknowledged: nothing more
        client.emit("events_ack", 1)
        send_until(lambda: len(inbox.named("events")) > limit, "a batch once it acknowledged")
    finally:
        client.disconnect()
