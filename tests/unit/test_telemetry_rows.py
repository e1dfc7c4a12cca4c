"""The per-message traffic events are built as wire rows, and must stay the dataclasses' rows.

Why: a node emits a ``MsgSent``/``MsgReceived``/``MsgDropped`` per message
hop, so it builds their ``[tag, field...]`` rows directly instead of a
frozen dataclass (cluster/schema/telemetry.py). The hub decodes those rows
with the dataclasses' field order; if the two drifted, every traffic event
would be refused or, worse, decoded with fields swapped.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from cluster.node.telemetry import Telemetry
from cluster.schema.codec import pack
from cluster.schema.registry import DecodeError
from cluster.schema.telemetry import (
    T_MS_INDEX,
    TELEMETRY,
    TRAFFIC_ROW_FIELDS,
    MsgDropped,
    MsgReceived,
    MsgSent,
    RaftState,
    decode_batch,
    decode_wire_batch,
    encode_rows,
    expand_wire_events,
    msg_dropped_row,
    msg_received_row,
    msg_sent_row,
)

SENT_ARGS = ("n1", 12.5, "n1", "n3", 7, "AppendEntries", "n2", 321, "n1→n3 AppendEntries t3 i7..9")
RECEIVED_ARGS = ("n2", 13.0, "n1", "n3", 7, "AppendEntries", "n1", 321)
DROPPED_ARGS = ("n2", 14.0, "n1", "n3", 7, "AppendEntries", "no_route")


def telemetry() -> Telemetry:
    return Telemetry(
        "n1", "127.0.0.1", 1, b"s" * 32, 30,
        node_up=lambda: None, on_command=lambda _c: None,
        on_bad_frame=lambda _p, _r: None, rng=random.Random(1),
    )  # fmt: skip


def test_each_traffic_row_is_its_dataclass_row() -> None:
    assert msg_sent_row(*SENT_ARGS) == TELEMETRY.to_list(MsgSent(*SENT_ARGS))
    assert msg_received_row(*RECEIVED_ARGS) == TELEMETRY.to_list(MsgReceived(*RECEIVED_ARGS))
    assert msg_dropped_row(*DROPPED_ARGS) == TELEMETRY.to_list(MsgDropped(*DROPPED_ARGS))


def test_every_event_starts_with_node_and_t_ms() -> None:
    # the node sheds stale traffic by row[T_MS_INDEX] without decoding the row
    for tag in TELEMETRY.tags():
        names = [f.name for f in dataclasses.fields(TELEMETRY.cls(tag))]
        assert names[:2] == ["node", "t_ms"], tag
        assert ["tag", *names].index("t_ms") == T_MS_INDEX


def test_rows_and_events_travel_in_one_batch_and_decode_to_the_events() -> None:
    t = telemetry()
    state = RaftState("n1", 11.0, "leader", 3, "n1", "n1", 9, 9, 9, 0, ["n1", "n2"], 0, 10, "off")
    t.emit(state)
    t.emit_row(msg_sent_row(*SENT_ARGS))
    t.emit_row(msg_received_row(*RECEIVED_ARGS))
    assert t.buffered() == 3
    node, dropped, events = decode_batch(encode_rows("n1", 0, t._take(10)))
    assert (node, dropped) == ("n1", 0)
    assert events == [state, MsgSent(*SENT_ARGS), MsgReceived(*RECEIVED_ARGS)]
    assert t.buffered() == 0


def test_a_flush_takes_at_most_a_batch_and_keeps_the_rest_in_order() -> None:
    t = telemetry()
    rows = [msg_received_row("n1", i, "n2", "n1", i, "Heartbeat", "n2", 40) for i in range(5)]
    for row in rows:
        t.emit_row(row)
    assert t._take(2) == rows[:2]
    assert t._take(10) == rows[2:]
    assert t.buffered() == 0


def test_the_hub_keeps_traffic_as_rows_and_decodes_the_rest() -> None:
    # the hub forwards traffic rows to browsers as they came; they must mean
    # the same events as the dataclasses decode_batch builds
    state = RaftState("n1", 11.0, "leader", 3, "n1", "n1", 9, 9, 9, 0, ["n1", "n2"], 0, 10, "off")
    rows = [
        msg_sent_row(*SENT_ARGS),
        TELEMETRY.to_list(state),
        msg_received_row(*RECEIVED_ARGS),
        msg_dropped_row(*DROPPED_ARGS),
    ]
    body = encode_rows("n1", 4, rows)
    batch = decode_wire_batch(body)
    assert (batch.node, batch.dropped_total, batch.msgs_received) == ("n1", 4, 1)
    assert batch.events == [state]  # listeners and the view: no traffic
    assert batch.wire == [rows[0], TELEMETRY.to_dict(state), rows[2], rows[3]]
    _, _, decoded = decode_batch(body)
    assert expand_wire_events(batch.wire, TRAFFIC_ROW_FIELDS) == [
        TELEMETRY.to_dict(e) for e in decoded
    ]


@pytest.mark.parametrize(
    "row",
    [
        ["MsgSent", "n1", "late", "n1", "n3", 7, "K", "n2", 1, ""],  # t_ms not a number
        ["MsgReceived", "n1", 1.0, "n1", "n3", 7, "K", "n2"],  # a field short
        ["MsgDropped", "n1", 1.0, "n1", "n3", [7], "K", "x"],  # seq unhashable
        [["MsgSent"], "n1"],
        "MsgSent",
        [],
    ],
)
def test_the_hub_refuses_a_malformed_traffic_row_like_decode_batch(row: object) -> None:
    body = pack(["n1", 0, [msg_sent_row(*SENT_ARGS), row]])
    with pytest.raises(DecodeError):
        decode_batch(body)
    with pytest.raises(DecodeError):
        decode_wire_batch(body)
