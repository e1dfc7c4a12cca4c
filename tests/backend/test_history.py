"""The recorded history: the ring and its limits, the two export formats, vector
clocks computed from send/receive pairs, and importing a saved history for replay.

Events reach the hub over a real telemetry socket (``NodeSocket``), exactly
as a node sends them; no node process is needed to check what the hub keeps
and writes out.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from backend_testkit import DEADLINE_S, NodeSocket, StandInLauncher, auth, wait_for
from flask import Flask

import backend.history_import as history_import
from backend.history import History
from backend.history_formats import SHIVIZ_REGEX
from backend.hub import Hub
from backend.vector_clocks import concurrent, happened_before, with_vector_clocks
from cluster.schema.telemetry import MsgReceived, MsgSent, RaftState, encode_batch

# A minute ago: a time-range query reads the batches received from the range
# on (events cannot arrive before they happen), so test events are recent.
T0_MS = float(round(time.time() * 1000) - 60_000)


def sent(node: str, t: float, src: str, dst: str, seq: int, to: str) -> MsgSent:
    return MsgSent(node, T0_MS + t, src, dst, seq, "AppendEntries", to, 64, f"{src}→{dst} m{seq}")


def received(node: str, t: float, src: str, dst: str, seq: int, frm: str) -> MsgReceived:
    return MsgReceived(node, T0_MS + t, src, dst, seq, "AppendEntries", frm, 64)


def raft(node: str, t: float, role: str = "follower", term: int = 1) -> RaftState:
    return RaftState(node, T0_MS + t, role, term, None, None, 0, 0, 0, 0, [], 0, 10, "off")


def record_all(
    hub: Hub, node_socket: Callable[[str], NodeSocket], batches: list[list[Any]]
) -> None:
    """Send each batch from its node (batch[0].node), in this order, and wait for all."""
    sockets: dict[str, NodeSocket] = {}
    before = hub.history.summary()["events"]
    for batch in batches:
        node = batch[0].node
        if node not in sockets:
            sockets[node] = node_socket(node)
        sockets[node].send(batch)
        # one batch at a time, so the hub receives them in exactly this order
        total = before + sum(len(b) for b in batches[: batches.index(batch) + 1])
        wait_for(lambda t=total: hub.history.summary()["events"] >= t, "the batch to arrive")


def lines(reply: Any) -> list[str]:
    return reply.get_data(as_text=True).splitlines()


def shiviz_events(text: str) -> list[tuple[str, dict[str, int], str]]:
    """Parse a ShiViz log the way ShiViz does: line 1 the regex, line 2 the delimiter."""
    regex_line, delimiter, *body = text.split("\n")
    assert regex_line == SHIVIZ_REGEX and delimiter == ""
    # ShiViz's (?<name>...) is JavaScript; Python spells it (?P<name>...)
    pattern = re.compile(regex_line.replace("(?<", "(?P<"), re.MULTILINE)
    matches = pattern.finditer("\n".join(body))
    found = [(m["host"], json.loads(m["clock"]), m["event"]) for m in matches]
    assert len(found) == len([b for b in body if b])
    return found


def assert_shiviz_accepts(events: list[tuple[str, dict[str, int], str]]) -> None:
    """ShiViz's own checks (js/model/modelGraph.js): each host counts 1, 2, 3...
    in the order of its lines, and a clock names only known hosts and times."""
    counts: dict[str, int] = {}
    for host, clock, _ in events:
        counts[host] = counts.get(host, 0) + 1
        assert clock[host] == counts[host], f"{host}'s own entry must count its events"
    for host, clock, _ in events:
        for other, value in clock.items():
            assert other in counts and 1 <= value <= counts[other], (host, clock)


# -- the ring ------------------------------------------------------------------


def test_the_ring_keeps_the_newest_batches_and_counts_what_it_dropped() -> None:
    history = History(limit=10, max_age_ms=60_000)
    for i in range(3):
        history.extend([{"type": "X", "node": "n1", "t_ms": T0_MS + 4 * i + k} for k in range(4)],
                       T0_MS + i)  # fmt: skip
    summary = history.summary()
    # 12 > 10: the oldest whole batch went
    assert summary["events"] == 8 and summary["dropped"] == 4
    assert [r[1]["t_ms"] - T0_MS for r in history.snapshot().records()] == list(range(4, 12))
    assert [e["t_ms"] - T0_MS for e in history.last(3)] == [9, 10, 11]
    assert [r[1]["t_ms"] - T0_MS for r in history.snapshot().records(newest=5)] == [7, 8, 9, 10, 11]


def test_a_node_batch_is_kept_as_its_bytes_and_decoded_when_read() -> None:
    history = History()
    events = [sent("n1", 1, "n1", "n2", 7, "n2"), raft("n1", 2)]
    history.extend_raw(encode_batch("n1", 0, events), len(events), T0_MS + 5)
    records = list(history.snapshot().records())
    assert [(recv, e["type"], e["t_ms"] - T0_MS) for recv, e in records] == [
        (T0_MS + 5, "MsgSent", 1), (T0_MS + 5, "RaftState", 2),
    ]  # fmt: skip
    assert records[0][1]["text"] == "n1→n2 m7"


def test_the_ring_forgets_events_older_than_its_age_limit() -> None:
    history = History(limit=1000, max_age_ms=1000)  # docs: HISTORY_MAX_AGE_MS
    history.extend([{"type": "X", "node": "n1", "t_ms": 0.0}], recv_ms=T0_MS)
    history.extend([{"type": "X", "node": "n1", "t_ms": 1.0}], recv_ms=T0_MS + 5000)
    assert history.summary()["events"] == 1 and history.summary()["dropped"] == 1


# -- export --------------------------------------------------------------------


def test_jsonl_export_has_one_canonical_event_per_line_with_its_receive_time(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    record_all(hub, node_socket, [[sent("n1", 1, "n1", "n2", 7, "n2"), raft("n1", 2)]])
    reply = app.test_client().get("/api/history?format=jsonl&types=MsgSent,RaftState")
    assert reply.status_code == 200 and reply.mimetype == "application/x-ndjson"
    events = [json.loads(line) for line in lines(reply)]
    assert [e["type"] for e in events] == ["MsgSent", "RaftState"]
    first = events[0]
    assert list(first) == [
        "type", "node", "t_ms", "src", "dst", "seq", "kind", "to", "size_bytes", "text", "recv_ms",
    ]  # fmt: skip
    assert first["text"] == "n1→n2 m7" and first["recv_ms"] >= first["t_ms"]
    assert reply.headers["X-History-Mode"] == "live"


def test_export_filters_by_time_and_keeps_the_newest_with_limit(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    # events that happened just now: a time range is looked up among the
    # batches received from its start to a minute after its end
    base_ms = time.time() * 1000.0 - 1000.0 - T0_MS  # a second ago
    record_all(hub, node_socket, [[raft("n1", base_ms + t) for t in (10, 20, 30, 40)]])
    client = app.test_client()
    start_ms = T0_MS + base_ms

    def times(query: str) -> list[float]:
        reply = client.get(f"/api/history?types=RaftState&{query}")
        return [round(json.loads(line)["t_ms"] - start_ms) for line in lines(reply)]

    assert times(f"since_ms={start_ms + 20}") == [20, 30, 40]
    assert times(f"since_ms={start_ms + 20}&until_ms={start_ms + 30}") == [20]  # until: exclusive
    assert times("limit=2") == [30, 40]
    assert client.get("/api/history?format=csv").status_code == 400
    assert client.get("/api/history?since_ms=yesterday").status_code == 400
    assert client.get("/api/history?limit=-1").status_code == 400


def test_download_asks_the_browser_to_save_a_file(app: Flask) -> None:
    reply = app.test_client().get("/api/history?format=shiviz&download=1")
    assert reply.headers["Content-Disposition"].startswith("attachment; filename=")
    assert reply.headers["Content-Disposition"].endswith('.log"')


# -- vector clocks -------------------------------------------------------------


def test_vector_clocks_follow_messages_even_when_receives_reach_the_hub_first(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    # n1 → n2 → n3, and n1 → n3 forwarded through n2 (two hops, one message n1#2).
    # The receivers' batches reach the hub BEFORE the senders': the clocks must not care.
    n3 = [raft("n3", 0), received("n3", 3, "n2", "n3", 1, "n2"),
          received("n3", 6, "n1", "n3", 2, "n2")]
    n2 = [received("n2", 1, "n1", "n2", 1, "n1"), sent("n2", 2, "n2", "n3", 1, "n3"),
          received("n2", 5, "n1", "n3", 2, "n1"), sent("n2", 5.5, "n1", "n3", 2, "n3")]
    n1 = [sent("n1", 0.5, "n1", "n2", 1, "n2"), raft("n1", 4), sent("n1", 4.5, "n1", "n3", 2, "n2")]
    record_all(hub, node_socket, [n3, n2, n1])  # fmt: skip

    reply = app.test_client().get("/api/history?format=shiviz&types=MsgSent,MsgReceived,RaftState")
    events = shiviz_events(reply.get_data(as_text=True))
    assert_shiviz_accepts(events)
    # key: (host, what it did, its own count)
    clocks = {(host, text.split(" ")[0], clock[host]): clock for host, clock, text in events}
    assert clocks[("n1", "send", 1)] == {"n1": 1}
    assert clocks[("n2", "receive", 1)] == {"n1": 1, "n2": 1}
    assert clocks[("n2", "send", 2)] == {"n1": 1, "n2": 2}
    assert clocks[("n3", "raft", 1)] == {"n3": 1}
    assert clocks[("n3", "receive", 2)] == {"n1": 1, "n2": 2, "n3": 2}
    # the forwarded message carries n1's later events through n2 to n3
    assert clocks[("n2", "receive", 3)] == {"n1": 3, "n2": 3}
    assert clocks[("n3", "receive", 3)] == {"n1": 3, "n2": 4, "n3": 3}
    # n1's RaftState and n3's first receive are concurrent: no chain of messages joins them
    assert concurrent(clocks[("n1", "raft", 2)], clocks[("n3", "receive", 2)])
    assert happened_before(clocks[("n1", "send", 1)], clocks[("n3", "receive", 2)])
    # the sent text is what a student reads in ShiViz
    assert any("send n1→n2 m1" in text for _, _, text in events)


def test_vector_clocks_match_a_simulated_run_whatever_the_arrival_order() -> None:
    """A seeded random exchange among four nodes, with the true clocks kept as it
    runs; the computed clocks must be the same after the events are shuffled
    across nodes (each node's own order kept), as batches reach the hub."""
    rng = random.Random(6)
    nodes = ["n1", "n2", "n3", "n4"]
    truth: dict[int, dict[str, int]] = {}
    clocks: dict[str, dict[str, int]] = {n: {} for n in nodes}
    per_node: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
    in_flight: list[tuple[dict[str, Any], dict[str, int]]] = []
    seq = 0

    def happen(node: str, event: dict[str, Any], merge: dict[str, int] | None = None) -> None:
        clock = clocks[node]
        for other, value in (merge or {}).items():
            clock[other] = max(clock.get(other, 0), value)
        clock[node] = clock.get(node, 0) + 1
        event["id"] = len(truth)
        truth[event["id"]] = dict(clock)
        per_node[node].append(event)

    for _ in range(400):
        node = rng.choice(nodes)
        choice = rng.random()
        if choice < 0.45:
            seq += 1
            to = rng.choice([n for n in nodes if n != node])
            event = {"type": "MsgSent", "node": node, "src": node, "dst": to, "seq": seq, "to": to}
            happen(node, event)
            in_flight.append((event, truth[event["id"]]))
        elif choice < 0.85 and in_flight:
            send, send_clock = in_flight.pop(rng.randrange(len(in_flight)))
            node = send["to"]
            happen(node, {"type": "MsgReceived", "node": node, "src": send["src"],
                          "dst": send["dst"], "seq": send["seq"], "frm": send["node"]}, send_clock)
        else:
            happen(node, {"type": "RaftState", "node": node})

    arrival: list[dict[str, Any]] = []
    queues = {n: list(events) for n, events in per_node.items()}
    while any(queues.values()):
        node = rng.choice([n for n in nodes if queues[n]])
        take = rng.randint(1, 5)  # one telemetry batch
        arrival.extend(queues[node][:take])
        del queues[node][:take]

    computed = list(with_vector_clocks(arrival))
    assert len(computed) == len(arrival)
    for event, clock in computed:
        assert clock == truth[event["id"]], event


# -- import and replay ---------------------------------------------------------


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


SAVED = [
    {"type": "NodeState", "node": "n7", "t_ms": T0_MS, "state": "up", "pid": 1, "recv_ms": T0_MS},
    {"type": "MsgSent", "node": "n7", "t_ms": T0_MS + 1, "src": "n7", "dst": "n8", "seq": 1,
     "kind": "Heartbeat", "to": "n8", "size_bytes": 40, "text": "n7→n8 Heartbeat"},
    {"type": "MsgReceived", "node": "n8", "t_ms": T0_MS + 2, "src": "n7", "dst": "n8", "seq": 1,
     "kind": "Heartbeat", "frm": "n7", "size_bytes": 40},
]  # fmt: skip


def test_import_needs_the_token_and_replaces_what_the_dashboard_shows(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/api/history/import", data=jsonl(SAVED)).status_code == 401
    url = "/api/history/import?name=lecture3.jsonl"
    reply = client.post(url, data=jsonl(SAVED), headers=auth())
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["replay"]["events"] == 3

    view = client.get("/api/cluster").get_json()
    assert view["history"]["mode"] == "replay"
    assert view["history"]["replay"]["name"] == "lecture3.jsonl"
    assert view["history"]["standalone"] is False  # this backend has a cluster (the stand-in)
    exported = [json.loads(line) for line in lines(client.get("/api/history"))]
    assert [(e["type"], e["node"]) for e in exported] == [(e["type"], e["node"]) for e in SAVED]
    assert exported[1]["recv_ms"] == T0_MS + 1  # no recv_ms in the file: its t_ms

    assert client.delete("/api/history/import").status_code == 401
    assert client.delete("/api/history/import", headers=auth()).get_json()["was_replaying"]
    assert client.get("/api/cluster").get_json()["history"]["mode"] == "live"


def test_an_exported_history_imports_back_unchanged(
    app: Flask, hub: Hub, node_socket: Callable[[str], NodeSocket]
) -> None:
    record_all(hub, node_socket, [[sent("n1", 1, "n1", "n2", 1, "n2"), raft("n1", 2)]])
    client = app.test_client()
    saved = client.get("/api/history").get_data()
    assert client.post("/api/history/import", data=saved, headers=auth()).status_code == 200
    assert client.get("/api/history").get_data() == saved


def test_a_standalone_replay_draws_the_recorded_nodes_and_links(hub: Hub) -> None:
    from backend import create_app

    app = create_app({"CLUSTERLAB_HUB": hub, "CLUSTERLAB_TOKEN": "t"})  # no launcher
    client = app.test_client()
    client.post("/api/history/import", data=jsonl(SAVED), headers=auth("t"))
    view = client.get("/api/cluster").get_json()
    assert view["history"]["standalone"] is True
    assert [(n["id"], n["state"]) for n in view["nodes"]] == [("n7", "up"), ("n8", "up")]
    assert [(x["a"], x["b"]) for x in view["links"]] == [("n7", "n8")]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"", 400, "no events"),
        (b"not json\n", 400, "line 1 is not JSON"),
        (SHIVIZ_REGEX.encode() + b"\n\nn1 {} x\n", 400, "ShiViz"),
        (jsonl(SAVED[:1]) + b"[1, 2]\n", 400, "line 2 is not a JSON object"),
        (jsonl([{"type": "MsgSent", "t_ms": 1}]), 400, "line 1 (MsgSent) has no node"),
        (jsonl([{"type": "MsgSent", "node": "n1", "t_ms": "soon"}]), 400, "numeric t_ms"),
        (jsonl([{"node": "n1", "t_ms": 1}]), 400, "no event type"),
    ],
)
def test_a_bad_upload_is_refused_with_a_message_that_says_why(
    app: Flask, body: bytes, status: int, says: str
) -> None:
    reply = app.test_client().post("/api/history/import", data=body, headers=auth())
    assert reply.status_code == status
    assert says in reply.get_json()["error"]
    assert app.test_client().get("/api/cluster").get_json()["history"]["mode"] == "live"


def test_an_upload_over_the_limits_is_refused_before_it_is_kept(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history_import, "MAX_IMPORT_EVENTS", 2)
    reply = app.test_client().post("/api/history/import", data=jsonl(SAVED), headers=auth())
    assert reply.status_code == 413 and "more than 2 events" in reply.get_json()["error"]

    monkeypatch.setattr(history_import, "MAX_IMPORT_BYTES", 100)
    reply = app.test_client().post("/api/history/import", data=jsonl(SAVED), headers=auth())
    assert reply.status_code == 413 and "larger than" in reply.get_json()["error"]
    assert app.test_client().get("/api/cluster").get_json()["history"]["mode"] == "live"


# -- what the hub adds -----------------------------------------------------------


def test_a_killed_node_and_the_instructor_action_are_on_the_record(
    app: Flask, hub: Hub, launcher: StandInLauncher
) -> None:
    client = app.test_client()
    reply = client.post("/api/faults", json={"action": "kill", "node": "n2"}, headers=auth())
    assert reply.status_code == 200
    hub.on_status(launcher.status()[1])  # the launcher's callback, as the real one makes it
    events = [json.loads(line) for line in lines(client.get("/api/history?types=NodeState,Mark"))]
    states = [(e["node"], e["state"]) for e in events if e["type"] == "NodeState"]
    assert ("n2", "starting") in states and states[-1] == ("n2", "down")
    marks = [e for e in events if e["type"] == "Mark"]
    assert len(marks) == 1 and marks[0]["node"] == "n2" and marks[0]["kind"] == "action"
    assert marks[0]["text"].startswith("POST /api/faults") and '"kill"' in marks[0]["text"]
    # a refused request changes nothing, so it marks nothing
    client.post("/api/faults", json={"action": "kill", "node": "n2"})
    assert len([e for e in hub.history.last(100) if e["type"] == "Mark"]) == 1


# -- replay without a cluster ------------------------------------------------------


def test_python_m_backend_replay_serves_a_saved_history_without_a_cluster(
    tmp_path: Path,
) -> None:
    saved = tmp_path / "lecture.jsonl"
    saved.write_bytes(jsonl(SAVED))
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.replay", str(saved), "--port", "0", "--token", "t"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:  # the address comes first, then it serves
            if "Dashboard:" in line:
                url = line.split("Dashboard:")[1].strip()
                break
        assert url, "python -m backend.replay printed no address"
        view = requests.get(url + "api/cluster", timeout=DEADLINE_S).json()
        assert view["history"]["mode"] == "replay" and view["history"]["standalone"] is True
        assert view["history"]["replay"]["name"] == "lecture.jsonl"
        assert [n["id"] for n in view["nodes"]] == ["n7", "n8"]
        exported = requests.get(url + "api/history", timeout=DEADLINE_S).text.splitlines()
        assert [json.loads(line)["type"] for line in exported] == [e["type"] for e in SAVED]
    finally:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_python_m_backend_replay_refuses_a_bad_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a history\n")
    done = subprocess.run(
        [sys.executable, "-m", "backend.replay", str(bad), "--port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "line 1 is not JSON" in done.stderr and len(done.stderr.splitlines()) == 1
