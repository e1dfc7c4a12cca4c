"""Read-only viewers get every state event and a capped sample of the traffic;
the instructor (the token holder) gets everything (issue #6).

The sampler is checked on its own with a hand-driven clock, then through the
real hub: real Socket.IO test clients, telemetry as real frames over TCP.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from backend_testkit import TOKEN, NodeSocket, wait_for
from flask import Flask

from backend import socketio
from backend.viewer_stream import (
    VIEWER_TRAFFIC_BURST_EVENTS,
    VIEWER_TRAFFIC_EVENTS_PER_S,
    TrafficSampler,
)
from cluster.schema.telemetry import (
    TRAFFIC_ROW_FIELDS,
    ClientRequest,
    MsgReceived,
    MsgSent,
    WireEvent,
    expand_wire_events,
    msg_received_row,
    msg_sent_row,
)

CAP_PER_S = VIEWER_TRAFFIC_EVENTS_PER_S
BURST = VIEWER_TRAFFIC_BURST_EVENTS
TICK_S = 0.040  # the hub's fan-out beat
STAMP_AHEAD_MS = 5_000.0


def hop(seq: int, t_ms: float = 1.0) -> tuple[list[Any], list[Any]]:
    """The two halves of one message hop n1 → n2, as the hub queues them (rows)."""
    sent = msg_sent_row("n1", t_ms, "n1", "n2", seq, "Heartbeat", "n2", 48, "")
    received = msg_received_row("n2", t_ms, "n1", "n2", seq, "Heartbeat", "n1", 48)
    return sent, received


def state(i: int) -> dict[str, Any]:
    return {"type": "RaftState", "node": "n1", "t_ms": 1.0, "i": i}


# -- the sampler ---------------------------------------------------------


def test_below_the_cap_a_viewer_gets_every_message() -> None:
    sampler = TrafficSampler()
    kept_all: list[WireEvent] = []
    for tick in range(25):  # one second, 2 hops (4 events) a tick = 100 events/s
        batch = [e for seq in (2 * tick, 2 * tick + 1) for e in hop(seq)]
        kept, left_out = sampler.thin(batch, tick * TICK_S)
        assert left_out == 0
        kept_all += kept
    assert len(kept_all) == 100


def test_above_the_cap_traffic_is_capped_whole_hops_kept_and_state_never_lost() -> None:
    sampler = TrafficSampler()
    seconds = 3.0
    ticks = int(seconds / TICK_S)
    kept_all: list[WireEvent] = []
    left_out_total = 0
    pending_halves: list[WireEvent] = []
    seq = 0
    for tick in range(ticks):
        # 5,000 traffic events/s; each receive arrives a tick after its send,
        # the way two nodes' telemetry reaches the hub in different batches
        batch: list[WireEvent] = [*pending_halves, state(tick)]
        pending_halves = []
        for _ in range(100):
            sent, received = hop(seq)
            batch.append(sent)
            pending_halves.append(received)
            seq += 1
        kept, left_out = sampler.thin(batch, tick * TICK_S)
        kept_all += kept
        left_out_total += left_out
    kept_dicts = expand_wire_events(kept_all, TRAFFIC_ROW_FIELDS)
    traffic = [e for e in kept_dicts if e["type"] != "RaftState"]
    assert len(traffic) <= CAP_PER_S * seconds + BURST
    assert len(traffic) >= 0.8 * CAP_PER_S * seconds  # a sample, not a trickle
    assert [e["i"] for e in kept_dicts if e["type"] == "RaftState"] == list(range(ticks))
    sent_seqs = [e["seq"] for e in traffic if e["type"] == "MsgSent"]
    received_seqs = {e["seq"] for e in traffic if e["type"] == "MsgReceived"}
    # every kept send has its receive (but the last tick's, still on its way)
    assert {s for s in sent_seqs if s < seq - 100} <= received_seqs
    assert received_seqs <= set(sent_seqs)
    # spread over time, not spent in the first ticks of each second
    first_half = [e for e in traffic if e["seq"] < seq // 2]
    assert 0.35 < len(first_half) / len(traffic) < 0.65
    assert left_out_total + len(traffic) == 2 * seq - 100  # everything counted once
    assert (sampler.kept_total, sampler.left_out_total) == (len(traffic), left_out_total)


def test_the_sample_does_not_depend_on_where_a_message_sits_in_the_batch() -> None:
    # The nodes' timers share a grid, so every tick brings the same kinds in
    # the same order: 40 hellos first, then 10 heartbeats. A first-come cap
    # would keep only hellos; the sample must show both, about 4 to 1.
    sampler = TrafficSampler(rng=random.Random(1))
    kinds: Counter[str] = Counter()
    seq = 0
    for tick in range(100):
        batch: list[WireEvent] = []
        for kind in ["Hello"] * 40 + ["Heartbeat"] * 10:
            batch.append(msg_sent_row("n1", 1.0, "n1", "n2", seq, kind, "n2", 48, ""))
            seq += 1
        kept, _ = sampler.thin(batch, tick * TICK_S)
        kinds.update(e["kind"] for e in expand_wire_events(kept, TRAFFIC_ROW_FIELDS))
    assert sum(kinds.values()) >= 0.8 * CAP_PER_S * 100 * TICK_S / 2  # one half of each hop
    assert 0.12 < kinds["Heartbeat"] / sum(kinds.values()) < 0.28


def test_a_receive_seen_before_its_send_decides_for_both() -> None:
    sampler = TrafficSampler(events_per_s=100.0, burst_events=2.0)
    sent, received = hop(7)
    kept, _ = sampler.thin([received], 0.0)
    assert kept == [received]
    kept, left_out = sampler.thin([sent, hop(8)[0]], 0.0)  # no budget left for message 8
    assert kept == [sent] and left_out == 1
    kept, left_out = sampler.thin([hop(8)[1]], 1.0)  # budget again, but 8 was left out
    assert kept == [] and left_out == 1


def test_verdicts_are_forgotten_within_their_limit() -> None:
    sampler = TrafficSampler(remembered_limit=100)
    for tick in range(50):
        sampler.thin([hop(tick * 10 + i)[0] for i in range(10)], tick * TICK_S)
    assert sampler.remembered_messages() <= 100


# -- through the hub -----------------------------------------------------


class Inbox:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.messages: list[dict[str, Any]] = []

    def batches(self) -> list[dict[str, Any]]:
        self.messages.extend(self.client.get_received())
        return [m["args"][0] for m in self.messages if m["name"] == "events"]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [
            e
            for b in self.batches()
            for e in expand_wire_events(b["events"], b["rows"])
            if e["type"] == kind
        ]


def all_of(box: Inbox, kind: str, count: int) -> Callable[[], bool]:
    return lambda: len(box.events(kind)) == count


def send_traffic_and_requests(n1: NodeSocket, seconds: float) -> tuple[int, int]:
    """Fresh traffic at ~2,000 events/s and one ClientRequest per frame; (traffic, requests)."""
    traffic = requests = 0
    end_s = time.monotonic() + seconds
    while time.monotonic() < end_s:
        # stamped ahead, so a busy machine cannot make them stale (shedding: test_socketio_stream)
        now_ms = time.time() * 1000.0 + STAMP_AHEAD_MS
        events: list[Any] = []
        for _ in range(50):
            events.append(MsgSent("n1", now_ms, "n1", "n2", traffic, "Load", "n2", 64))
            events.append(MsgReceived("n2", now_ms, "n1", "n2", traffic, "Load", "n1", 64))
            traffic += 1
        events.append(ClientRequest("n1", now_ms, f"r{requests}", "put", "k", "linear", "http"))
        requests += 1
        n1.send(events)
        time.sleep(0.05)
    return 2 * traffic, requests


def test_viewers_get_every_state_event_and_capped_traffic_the_instructor_everything(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    instructor = socketio.test_client(live_app, auth={"token": TOKEN})
    viewer = socketio.test_client(live_app)
    late = socketio.test_client(live_app)  # becomes an instructor after connecting
    try:
        assert late.emit("instructor", TOKEN, callback=True) == {"instructor": True}
        assert viewer.emit("instructor", "a guess", callback=True) == {"instructor": False}
        boxes = {name: Inbox(c) for name, c in
                 (("instructor", instructor), ("viewer", viewer), ("late", late))}  # fmt: skip
        n1 = node_socket("n1")
        started_s = time.monotonic()
        traffic, requests = send_traffic_and_requests(n1, seconds=2.0)
        for name, box in boxes.items():
            wait_for(all_of(box, "ClientRequest", requests), f"every ClientRequest at the {name}")
        elapsed_s = time.monotonic() - started_s
        for name in ("instructor", "late"):
            got = boxes[name].events("MsgSent") + boxes[name].events("MsgReceived")
            assert len(got) == traffic, name
            assert all("traffic_left_out" not in b for b in boxes[name].batches())
        seen = boxes["viewer"].events("MsgSent") + boxes["viewer"].events("MsgReceived")
        assert traffic > 3 * CAP_PER_S * elapsed_s  # the cap really had to bite
        assert len(seen) <= CAP_PER_S * elapsed_s + BURST
        assert len(seen) >= 0.5 * CAP_PER_S * 2.0
        left_out = sum(b["traffic_left_out"] for b in boxes["viewer"].batches())
        assert len(seen) + left_out == traffic  # the page can say "showing 1 in N"
        assert [e["request_id"] for e in boxes["viewer"].events("ClientRequest")] == [
            f"r{i}" for i in range(requests)
        ]

        def sampling_in_stats() -> Any:
            stats = [m["args"][0] for m in boxes["viewer"].messages if m["name"] == "stats"]
            return next((s for s in stats if s["viewer_stream"]["traffic_left_out_per_s"]), None)

        boxes["viewer"].batches()
        stats = wait_for(sampling_in_stats, "a `stats` message saying viewers see a sample")
        assert stats["viewer_stream"]["viewers"] == 1
        assert stats["viewer_stream"]["instructors"] == 2
        assert stats["viewer_stream"]["traffic_cap_per_s"] == CAP_PER_S
    finally:
        for client in (instructor, viewer, late):
            client.disconnect()


def test_a_page_that_locks_again_becomes_a_viewer(
    live_app: Flask, node_socket: Callable[[str], NodeSocket]
) -> None:
    page = socketio.test_client(live_app, auth={"token": TOKEN})
    try:
        assert page.emit("instructor", "", callback=True) == {"instructor": False}
        box = Inbox(page)
        traffic, requests = send_traffic_and_requests(node_socket("n1"), seconds=1.0)
        wait_for(all_of(box, "ClientRequest", requests), "every ClientRequest")
        assert len(box.events("MsgSent") + box.events("MsgReceived")) < traffic
    finally:
        page.disconnect()
