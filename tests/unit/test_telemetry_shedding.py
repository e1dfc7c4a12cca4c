"""The node drops stale traffic events at flush time, and counts them.

Why: under overload a node's buffer must turn into counted drops, not into
seconds of lag the dashboard cannot see (cluster/node/telemetry.py).
"""

from __future__ import annotations

import random

from cluster.node.telemetry import MAX_SHEDDABLE_AGE_MS, Telemetry
from cluster.schema.telemetry import MsgSent, RaftState

NOW_MS = 1_000_000.0


def telemetry() -> Telemetry:
    return Telemetry(
        "n1", "127.0.0.1", 1, b"s" * 32, 30,
        node_up=lambda: None, on_command=lambda _c: None,
        on_bad_frame=lambda _p, _r: None, rng=random.Random(1),
    )


def sent(t_ms: float, seq: int) -> MsgSent:
    return MsgSent("n1", t_ms, "n1", "n2", seq, "Chatter", "n2", 64)


def test_stale_traffic_is_shed_and_counted_fresh_traffic_kept() -> None:
    t = telemetry()
    stale_ms = NOW_MS - MAX_SHEDDABLE_AGE_MS - 1
    for seq in range(3):
        t.emit(sent(stale_ms, seq))
    t.emit(sent(NOW_MS - 1, 3))
    assert t.shed_stale(NOW_MS) == 3
    assert t.dropped_total == 3
    assert t.buffered() == 1


def test_state_events_are_never_shed_however_old() -> None:
    t = telemetry()
    old_ms = NOW_MS - 100 * MAX_SHEDDABLE_AGE_MS
    fields = [f for f in RaftState.__dataclass_fields__ if f not in ("node", "t_ms")]
    state = RaftState("n1", old_ms, *[_zero(RaftState, f) for f in fields])
    t.emit(state)
    t.emit(sent(old_ms, 1))
    assert t.shed_stale(NOW_MS) == 1
    assert t.buffered() == 1


def test_nothing_is_shed_while_the_oldest_event_is_fresh() -> None:
    t = telemetry()
    t.emit(sent(NOW_MS - 1, 1))
    assert t.shed_stale(NOW_MS) == 0
    assert t.dropped_total == 0


def _zero(cls: type, name: str) -> object:
    kind = cls.__dataclass_fields__[name].type  # type: ignore[attr-defined]
    return {"str": "", "int": 0, "float": 0.0, "bool": False}.get(str(kind), "")
