"""The registry turns values into compact arrays and refuses bad ones back.

Decoding is where untrusted data becomes a value, so the checks on tag,
field count and field types are what keep a bad peer from building a
nonsense message inside a node.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cluster.schema.codec import pack
from cluster.schema.control import CONTROL, SetLoad, SetTimeScale, decode_command, encode_command
from cluster.schema.messages import WIRE
from cluster.schema.registry import DecodeError, Registry
from cluster.schema.telemetry import TELEMETRY, Counters, MsgDropped


def make_registry() -> Registry:
    reg = Registry("test")

    @reg.register
    @dataclass(frozen=True, slots=True)
    class Point:
        x: int
        y: float
        label: str | None

    @reg.register
    @dataclass(frozen=True, slots=True)
    class Path:
        points: list[int]
        meta: dict[str, int]

    return reg


def test_round_trip_through_a_flat_array() -> None:
    reg = make_registry()
    point = reg.cls("Point")(1, 2.5, None)
    assert reg.to_list(point) == ["Point", 1, 2.5, None]
    assert reg.from_list(["Point", 1, 2.5, None]) == point
    assert reg.from_list(["Point", 1, 2.5, "a"]).label == "a"


def test_to_dict_has_a_type_key_for_browsers() -> None:
    event = MsgDropped("n1", 1.0, "n1", "n9", 3, "Chatter", "no_route")
    assert TELEMETRY.to_dict(event) == {
        "type": "MsgDropped",
        "node": "n1",
        "t_ms": 1.0,
        "src": "n1",
        "dst": "n9",
        "seq": 3,
        "kind": "Chatter",
        "reason": "no_route",
    }


def test_container_fields_accept_lists_and_maps() -> None:
    reg = make_registry()
    assert reg.from_list(["Path", [1, 2], {"a": 1}]).meta == {"a": 1}
    with pytest.raises(DecodeError):
        reg.from_list(["Path", {"a": 1}, [1]])


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        [7, 1, 2.0, None],
        ["Nope", 1, 2.0, None],
        ["Point", 1, 2.0],
        ["Point", 1, 2.0, None, "extra"],
        ["Point", "1", 2.0, None],
        ["Point", 1, "2.0", None],
        ["Point", 1, 2.0, 3],
    ],
)
def test_bad_values_raise_decode_error(raw: object) -> None:
    with pytest.raises(DecodeError):
        make_registry().from_list(raw)


def test_registering_twice_or_a_non_dataclass_is_a_programming_error() -> None:
    reg = make_registry()
    with pytest.raises(TypeError, match="twice"):

        @reg.register
        @dataclass(frozen=True)
        class Point:
            x: int

    class Plain:
        pass

    with pytest.raises(TypeError, match="dataclass"):
        reg.register(Plain)


def test_shared_registries_know_the_walking_skeleton_types() -> None:
    assert {"Hello", "Heartbeat", "HeartbeatAck", "Chatter"} <= set(WIRE.tags())
    assert {"SetTimeScale", "SetLoad"} <= set(CONTROL.tags())
    assert {"NodeUp", "MsgSent", "MsgReceived", "LinkRtt", "Counters"} <= set(TELEMETRY.tags())


def test_control_commands_round_trip() -> None:
    for command in (SetTimeScale(10.0), SetLoad(2000)):
        assert decode_command(encode_command(command)) == command
    # A telemetry event is not a command, though it is a valid registered value.
    with pytest.raises(DecodeError, match="unknown tag"):
        decode_command(pack(TELEMETRY.to_list(Counters("n1", 0.0, {}))))
