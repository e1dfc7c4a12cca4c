"""When one fan-out tick has more events than one emit may carry, the hub sheds
traffic (messages) and never state: a role change or a client request that the
page needs to tell the story must not be lost to a burst of heartbeats."""

from __future__ import annotations

from backend.hub import _trim_traffic


def test_state_events_survive_and_the_newest_traffic_fills_the_rest() -> None:
    batch = (
        [{"type": "MsgSent", "i": i} for i in range(5)]
        + [{"type": "RaftState", "i": 99}]
        + [{"type": "MsgReceived", "i": i} for i in range(5, 8)]
    )
    kept = _trim_traffic(batch, 4)
    assert [(e["type"], e["i"]) for e in kept] == [
        ("RaftState", 99), ("MsgReceived", 5), ("MsgReceived", 6), ("MsgReceived", 7),
    ]


def test_a_batch_within_the_limit_is_untouched() -> None:
    batch = [{"type": "MsgSent", "i": i} for i in range(3)] + [{"type": "ClientRequest", "i": 9}]
    assert _trim_traffic(batch, 10) == batch
