"""Routing wire messages survive the real codec and have one-line text forms."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.schema.messages import Envelope, decode_envelope, encode_envelope
from cluster.schema.registry import DecodeError
from cluster.schema.routing import (
    DistanceVector,
    LinkStateAdvert,
    RoutingHello,
    TraceProbe,
    TraceReply,
)

MESSAGES: list[Any] = [
    RoutingHello("n1", ["n2", "n3"]),
    LinkStateAdvert("n1", 7, 3, {"n2": 1, "n3": 4}, ["n2", "n3"]),
    DistanceVector({"n1": 0, "n2": 1, "n5": 16}),
    TraceProbe("n1", "n4", 9, [("n1", 3, 10.5), ("n2", 2, 11.0)]),
    TraceReply("n1", "n4", 9, [("n1", 3, 10.5)], False, "ttl"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip_through_the_frame_body_codec(msg: object) -> None:
    decoded = decode_envelope(encode_envelope(Envelope("n1", "n2", 1, msg))).body
    assert type(decoded) is type(msg)
    # msgpack turns tuples into lists: compare field by field through lists.
    for name in msg.__dataclass_fields__:  # type: ignore[attr-defined]
        ours, theirs = getattr(msg, name), getattr(decoded, name)
        if isinstance(ours, list):
            assert [list(x) if isinstance(x, tuple) else x for x in ours] == theirs
        else:
            assert ours == theirs


def test_text_forms() -> None:
    assert MESSAGES[0].text() == "Hello n1 heard [n2,n3]"
    assert MESSAGES[1].text() == "LSA n1 #7 age 3 {n2:1,n3:4}"
    assert MESSAGES[2].text() == "DV {n1:0,n2:1,n5:16}"
    assert MESSAGES[3].text() == "Trace #9 n1⇢n4 via n1→n2"
    assert MESSAGES[4].text() == "TraceReply #9 failed (ttl) via n1"
    assert Envelope("n1", "n2", 1, MESSAGES[0]).text() == "n1→n2 Hello n1 heard [n2,n3]"


def test_wrong_outer_types_are_refused_by_the_registry() -> None:
    from cluster.schema.codec import pack

    body = pack(["n1", "n2", 1, 16, ["LinkStateAdvert", "n1", "seven", 0, {}, []]])
    with pytest.raises(DecodeError):
        decode_envelope(body)
