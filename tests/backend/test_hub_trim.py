"""When one fan-out tick has more events than one emit may carry, the hub sheds
traffic (messages) and never state: a role change or a client request that the
page needs to tell the story must not be lost to a burst of heartbeats."""

from __future__ import annotations

from backend.hub import _trim_traffic
from cluster.schema.telemetry import WireEvent


def test_state_events_survive_and_the_newest_traffic_fills_the_rest() -> None:
    # as the hub queues them: traffic as rows [type, node, t_ms, ...], state as dicts
    batch: list[WireEvent] = [
        *(["MsgSent", "n1", float(i)] for i in range(5)),
        {"type": "RaftState", "i": 99},
        *(["MsgReceived", "n2", float(i)] for i in range(5, 8)),
    ]
    kept = _trim_traffic(batch, 4)
    assert kept == [
        {"type": "RaftState", "i": 99},
        ["MsgReceived", "n2", 5.0],
        ["MsgReceived", "n2", 6.0],
        ["MsgReceived", "n2", 7.0],
    ]


def test_a_batch_within_the_limit_is_untouched() -> None:
    batch: list[WireEvent] = [["MsgSent", "n1", float(i)] for i in range(3)]
    batch.append({"type": "ClientRequest", "i": 9})
    assert _trim_traffic(batch, 10) == batch
