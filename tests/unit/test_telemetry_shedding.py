"""The node drops stale traffic events at flush time, and counts them; state
events are never lost to a slow hub.

Why: under overload a node's buffer must turn into counted drops, not into
seconds of lag the dashboard cannot see (cluster/node/telemetry.py), while a
role change or a snapshot is seen only once.
"""

from __future__ import annotations

import random

from cluster.node.clock import wall_ms
from cluster.node.telemetry import (
    MAX_BUFFERED_EVENTS,
    MAX_HUB_WRITE_BUFFER_BYTES,
    MAX_SHEDDABLE_AGE_MS,
    Telemetry,
)
from cluster.schema.telemetry import TELEMETRY, MsgSent, RaftState, SnapshotSaved

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


class _Transport:
    def __init__(self, unsent_bytes: int) -> None:
        self.unsent_bytes = unsent_bytes

    def get_write_buffer_size(self) -> int:
        return self.unsent_bytes


class _Writer:
    def __init__(self, unsent_bytes: int) -> None:
        self.transport = _Transport(unsent_bytes)
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.frames.append(data)


def test_a_backed_up_hub_loses_traffic_but_state_events_wait_for_the_next_flush() -> None:
    t = telemetry()
    now_ms = wall_ms()
    t.emit(sent(now_ms, 1))
    t.emit(SnapshotSaved("n1", now_ms, 40, 2, 100, "leader"))
    t.emit(sent(now_ms, 2))
    writer = _Writer(MAX_HUB_WRITE_BUFFER_BYTES + 1)
    t.flush(writer)  # type: ignore[arg-type]
    assert writer.frames == []
    assert t.dropped_total == 2
    assert t.buffered() == 1

    writer.transport.unsent_bytes = 0
    t.flush(writer)  # type: ignore[arg-type]
    assert len(writer.frames) == 1
    assert t.buffered() == 0


def test_a_full_buffer_makes_room_for_a_state_event_by_shedding_stale_traffic() -> None:
    t = telemetry()
    stale_ms = wall_ms() - MAX_SHEDDABLE_AGE_MS - 1
    for seq in range(MAX_BUFFERED_EVENTS):
        t.emit_row(TELEMETRY.to_list(sent(stale_ms, seq)))
    t.emit_row(TELEMETRY.to_list(sent(wall_ms(), 0)))  # traffic into a full buffer: dropped
    assert t.dropped_total == 1
    t.emit(SnapshotSaved("n1", wall_ms(), 40, 2, 100, "leader"))
    assert t.buffered() == 1
    assert t.dropped_total == 1 + MAX_BUFFERED_EVENTS
