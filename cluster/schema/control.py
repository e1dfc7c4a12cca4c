"""Control commands the backend sends to a node over its telemetry connection.

The telemetry connection is two-way: events flow node → hub, and these
commands flow hub → node (change the time scale now; later issues add Raft
proposals, topology edits, link faults). Signals (kill, pause) do not need a
command: the launcher sends them to the process itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster.schema.codec import pack, unpack
from cluster.schema.registry import Registry

CONTROL = Registry("control")
command = CONTROL.register


@command
@dataclass(frozen=True, slots=True)
class SetTimeScale:
    """Stretch every timer and injected delay by ``time_scale`` (1.0 = real time)."""

    time_scale: float


def encode_command(cmd: Any) -> bytes:
    return pack(CONTROL.to_list(cmd))


def decode_command(body: bytes) -> Any:
    return CONTROL.from_list(unpack(body))


@command
@dataclass(frozen=True, slots=True)
class SetLoad:
    """Make the node send ``msgs_per_s`` small ``Chatter`` messages to its peers.

    A real traffic generator for the telemetry benchmark and for demos of a
    busy network: every such message is a real frame on a real link.
    0 stops it.
    """

    msgs_per_s: int
