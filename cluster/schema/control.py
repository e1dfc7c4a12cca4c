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


@command
@dataclass(frozen=True, slots=True)
class SetLinks:
    """Replace the node's whole neighbour set (a topology edit, or a node that restarted).

    Each entry is ``{"peer", "cost", "latency_ms", "jitter_ms", "loss",
    "bandwidth_mbps"}``; ``cost`` None: the link points towards this node, so
    it carries control messages only. A peer missing from the list is no
    longer a neighbour: its connections are closed.
    """

    links: list[dict[str, Any]]


@command
@dataclass(frozen=True, slots=True)
class SetLink:
    """Add, change (``up`` True) or cut (``up`` False) the node's link to ``peer``."""

    peer: str
    up: bool
    cost: int | None
    latency_ms: float
    jitter_ms: float
    loss: float
    bandwidth_mbps: float


@command
@dataclass(frozen=True, slots=True)
class StartTrace:
    """Send a TraceProbe from this node to ``target``; the result comes back as TraceResult."""

    probe_id: int
    target: str


@command
@dataclass(frozen=True, slots=True)
class AddPeer:
    """Learn the address of a new member ``peer`` (``host``:``port``) and link to it.

    Sent to every node when the launcher adds a node process, before the
    membership change is proposed, so the leader can replicate to it at once.
    """

    peer: str
    host: str
    port: int


@command
@dataclass(frozen=True, slots=True)
class RemovePeer:
    """Forget member ``peer``: close the links to it (sent once its removal committed)."""

    peer: str


@command
@dataclass(frozen=True, slots=True)
class SetHold:
    """Hold-and-step delivery (cluster/node/hold.py): ``on`` keeps every protocol
    message the node originates in its hold queue and stops Raft's clock; off
    releases everything held, oldest first, and lets time run again."""

    on: bool


@command
@dataclass(frozen=True, slots=True)
class DeliverHeld:
    """Send the held message ``src#seq`` (src = this node) now: one step."""

    seq: int


@command
@dataclass(frozen=True, slots=True)
class ReleaseHeld:
    """Send every held message now, oldest first; delivery stays held for new ones."""


@command
@dataclass(frozen=True, slots=True)
class SetFaults:
    """Every network fault in force (cluster/core/faults.py), the same for every node.

    ``partition``: the groups (nodes not listed form one more group);
    ``oneways``: ``[from nodes, to nodes]`` rules, messages from ``to`` to
    ``from`` are stopped; ``links``: directed link faults ``{"src", "dst",
    "up", "delay_ms", "jitter_ms", "loss", "duplicate", "reorder"}``.
    Every node gets all of them because it forwards other nodes' messages
    too; it applies the link faults whose ``src`` it is. ``version`` grows
    with every change, and the node confirms it with ``FaultsApplied``.
    """

    version: int
    partition: list[list[str]]
    oneways: list[list[list[str]]]
    links: list[dict[str, Any]]
