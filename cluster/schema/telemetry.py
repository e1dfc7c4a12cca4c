"""Telemetry events: what every node tells the dashboard about itself.

Nodes batch these and send them to the backend hub (see ``encode_batch``);
the hub keeps the cluster view and forwards them to browsers as JSON objects
with a ``type`` key (``TELEMETRY.to_dict``). docs/telemetry.md documents every
event; tests/unit/test_telemetry_docs.py checks the page names them all.

Times are wall-clock milliseconds (``t_ms``): every process of a run is on one
machine and so shares one clock, which lets the page measure how long an event
took to reach it and animate a message at the pace of its real flight.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from cluster.schema.codec import pack, unpack
from cluster.schema.registry import DecodeError, Registry

TELEMETRY = Registry("telemetry")
event = TELEMETRY.register

# A message's text in MsgSent: a KV key can be 1 KiB, and one long line per
# message would multiply the telemetry stream; the start says what it is.
MSG_TEXT_MAX_CHARS = 120


@event
@dataclass(frozen=True, slots=True)
class NodeUp:
    """The node process started and is serving peers on ``addr``."""

    node: str
    t_ms: float
    pid: int
    addr: str
    client_addr: str


@event
@dataclass(frozen=True, slots=True)
class MsgSent:
    """A frame left ``node`` towards next hop ``to`` (``src#seq`` names the message).

    ``text`` is the message's canonical one-line form (``Envelope.text()``,
    e.g. ``n1→n3 AppendEntries t3 i7..9 c6``), cut at ``MSG_TEXT_MAX_CHARS``:
    the timeline shows it when a student hovers an arrow. Only the send
    carries it; the receive and the drop are joined to it by ``src#seq``.
    """

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    to: str
    size_bytes: int
    text: str = ""


@event
@dataclass(frozen=True, slots=True)
class MsgReceived:
    """A frame arrived at ``node`` from previous hop ``frm``."""

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    frm: str
    size_bytes: int


@event
@dataclass(frozen=True, slots=True)
class MsgDropped:
    """A message was not delivered; ``reason`` is e.g. ``no_link``, ``ttl``, ``loss``."""

    node: str
    t_ms: float
    src: str
    dst: str
    seq: int
    kind: str
    reason: str


@event
@dataclass(frozen=True, slots=True)
class LinkUp:
    """A TCP connection to neighbour ``peer`` is established (``up``) or lost."""

    node: str
    t_ms: float
    peer: str
    up: bool


@event
@dataclass(frozen=True, slots=True)
class LinkRtt:
    """Heartbeat round-trip time to a neighbour, measured on real frames."""

    node: str
    t_ms: float
    peer: str
    rtt_ms: float


@event
@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame from ``peer`` was refused (``bad_tag``, ``oversize``, ``undecodable``...)."""

    node: str
    t_ms: float
    peer: str
    reason: str


@event
@dataclass(frozen=True, slots=True)
class Counters:
    """Monotonic counters of one node, sent about once a second."""

    node: str
    t_ms: float
    counters: dict[str, int]


@event
@dataclass(frozen=True, slots=True)
class RouteTable:
    """``node``'s forwarding table after a change, or when its ``converged`` belief flips.

    ``table`` is ``{dst: {"next_hop", "cost"}}`` as the node forwards by it now;
    ``algorithm`` names how it was built; ``changes`` are the diff's lines
    (``n3: n2/2 → n4/5``). ``converged`` is the node's local belief (no change
    for a while); the backend's global check compares with Floyd-Warshall.
    """

    node: str
    t_ms: float
    algorithm: str
    table: dict[str, dict[str, Any]]
    converged: bool
    changes: list[str]


@event
@dataclass(frozen=True, slots=True)
class LinkConfig:
    """The links ``node`` applies now: ``{peer: {cost, latency_ms, jitter_ms, loss,
    bandwidth_mbps}}`` (cost None: data may not flow from ``node`` to ``peer``).

    Sent at start and after every edit, so the dashboard can show configured
    values next to the measured ones (LinkRtt).
    """

    node: str
    t_ms: float
    links: dict[str, dict[str, Any]]


@event
@dataclass(frozen=True, slots=True)
class TraceResult:
    """A trace probe started at ``node`` came back: the hops it really took.

    ``hops`` are ``[node, cost to target or -1, t_ms]`` per node visited, in
    order; ``reached`` is False when a node had no route (``reason`` says why).
    """

    node: str
    t_ms: float
    probe_id: int
    target: str
    hops: list[list[Any]]
    reached: bool
    reason: str


@event
@dataclass(frozen=True, slots=True)
class RaftState:
    """``node``'s Raft state: sent at once on a role, term, leader or voters change,
    otherwise at most every ~100 ms while something changed.

    ``log_length`` is the last log index (entries before ``snapshot_index``
    live only in the snapshot). ``election_elapsed_ticks`` of
    ``election_timeout_ticks`` is how far the election timer has run (a
    leader's is its check-quorum timer). ``fsync`` is ``always`` or ``off``.
    """

    node: str
    t_ms: float
    role: str
    term: int
    vote: str | None
    leader: str | None
    commit_index: int
    last_applied: int
    log_length: int
    snapshot_index: int
    voters: list[str]
    election_elapsed_ticks: int
    election_timeout_ticks: int
    fsync: str


@event
@dataclass(frozen=True, slots=True)
class LogAppended:
    """Entries written to ``node``'s log from ``first_index`` on (durably, before any ack).

    Writing from ``first_index`` replaces whatever the log held there: a
    ``first_index`` at or below the previous last index means a truncation.
    ``entries`` are the last few written (a bounded tail), each
    ``[index, term, kind, text]``, kind ``normal``, ``noop`` or ``config``.
    """

    node: str
    t_ms: float
    first_index: int
    entries: list[list[Any]]


@event
@dataclass(frozen=True, slots=True)
class SnapshotSaved:
    """``node`` wrote a snapshot as of ``index``/``term`` (``source`` ``compact``: its own
    log compaction; ``leader``: installed from the leader's InstallSnapshot)."""

    node: str
    t_ms: float
    index: int
    term: int
    size_bytes: int
    source: str


@event
@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A client request reached ``node`` (``via`` "http" from a client, or the node
    that forwarded it); ``request_id`` follows it to its ``ClientReply``."""

    node: str
    t_ms: float
    request_id: str
    op: str
    key: str
    consistency: str
    via: str


@event
@dataclass(frozen=True, slots=True)
class ClientReply:
    """``node`` answered request ``request_id`` with HTTP ``status`` after ``latency_ms``.

    ``index``/``term``: where a write committed (0 for reads and failures);
    ``error``: why it failed, empty on success.
    """

    node: str
    t_ms: float
    request_id: str
    op: str
    key: str
    status: int
    index: int
    term: int
    latency_ms: float
    error: str


@event
@dataclass(frozen=True, slots=True)
class HeldMessages:
    """Hold-and-step: the messages ``node`` keeps instead of sending, oldest first.

    Sent whenever the queue changes. ``on``: delivery is held; ``held``: each
    ``{"id", "dst", "type", "text", "since_ms"}`` (``id`` is the seq, so
    ``node#id`` names the message); ``overflow``: messages refused so far
    because the queue was full; ``limit``: the queue's size.
    """

    node: str
    t_ms: float
    on: bool
    held: list[dict[str, Any]]
    overflow: int
    limit: int


@event
@dataclass(frozen=True, slots=True)
class FaultsApplied:
    """``node`` applies the network faults of ``SetFaults`` ``version`` to its frames.

    ``blocked``: the nodes its own messages can no longer reach (partition,
    one-way); ``links``: the faults on its outgoing links, ``{peer: {"up",
    "delay_ms", "jitter_ms", "loss", "duplicate", "reorder"}}``.
    """

    node: str
    t_ms: float
    version: int
    blocked: list[str]
    links: dict[str, dict[str, Any]]


@event
@dataclass(frozen=True, slots=True)
class ChunkStored:
    """``node`` stored a file chunk durably (verified, fsynced); ``reason`` "upload",
    "repair" or "rebalance"."""

    node: str
    t_ms: float
    sha256: str
    size_bytes: int
    reason: str


@event
@dataclass(frozen=True, slots=True)
class ChunkRemoved:
    """``node`` removed a chunk file: ``reason`` "gc" (no file lists it here any more)
    or "corrupt" (its bytes no longer match its hash; quarantined)."""

    node: str
    t_ms: float
    sha256: str
    reason: str


@event
@dataclass(frozen=True, slots=True)
class FileChanged:
    """The leader applied a change to file ``name``'s metadata (``op`` "put", "delete",
    "replicas", or "placement" for the settings); ``version`` is the new one."""

    node: str
    t_ms: float
    name: str
    version: int
    op: str


# Events that only animate traffic: one per message hop, thousands a second
# under load. Late, they no longer show what is happening now, so the node and
# the hub drop (and count) stale ones instead of delivering them late
# (cluster/node/telemetry.py, backend/hub.py). State events (NodeUp, LinkUp,
# RaftState, RouteTable...) are never shed: the view needs every one of them.
SHEDDABLE_EVENTS: frozenset[type] = frozenset({MsgSent, MsgReceived, MsgDropped})
SHEDDABLE_EVENT_NAMES: frozenset[str] = frozenset(c.__name__ for c in SHEDDABLE_EVENTS)


# An event's wire form, ``[tag, node, t_ms, field...]`` (``TELEMETRY.to_list``).
# Every event starts with ``node`` and ``t_ms``, so ``row[T_MS_INDEX]`` is its time.
Row = list[Any]
T_MS_INDEX = 2


# The three traffic events are built as rows directly: a node emits one per
# message hop, thousands a second, and a frozen dataclass costs several
# times a list to build and then to flatten. Same fields, same order
# (tests/unit/test_telemetry_rows.py holds them to the dataclasses).


def msg_sent_row(
    node: str,
    t_ms: float,
    src: str,
    dst: str,
    seq: int,
    kind: str,
    to: str,
    size_bytes: int,
    text: str,
) -> Row:
    """``MsgSent``'s row."""
    return ["MsgSent", node, t_ms, src, dst, seq, kind, to, size_bytes, text]


def msg_received_row(
    node: str, t_ms: float, src: str, dst: str, seq: int, kind: str, frm: str, size_bytes: int
) -> Row:
    """``MsgReceived``'s row."""
    return ["MsgReceived", node, t_ms, src, dst, seq, kind, frm, size_bytes]


def msg_dropped_row(
    node: str, t_ms: float, src: str, dst: str, seq: int, kind: str, reason: str
) -> Row:
    """``MsgDropped``'s row."""
    return ["MsgDropped", node, t_ms, src, dst, seq, kind, reason]


def encode_rows(node: str, dropped_total: int, rows: list[Row]) -> bytes:
    """One telemetry frame body from rows: one msgpack call for the whole batch."""
    return pack([node, dropped_total, rows])


def encode_batch(node: str, dropped_total: int, events: list[Any]) -> bytes:
    """One telemetry frame body: the sender, its lifetime drop count, the events."""
    return encode_rows(node, dropped_total, [TELEMETRY.to_list(e) for e in events])


def decode_batch(body: bytes) -> tuple[str, int, list[Any]]:
    node, dropped, events = _decode_header(body)
    return node, dropped, [TELEMETRY.from_list(e) for e in events]


def _decode_header(body: bytes) -> tuple[str, int, list[Any]]:
    raw = unpack(body)
    if not (isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str)):
        raise DecodeError("telemetry: expected [node, dropped, events]")
    node, dropped, events = raw
    if not isinstance(dropped, int) or not isinstance(events, list):
        raise DecodeError("telemetry: bad batch header")
    return node, dropped, events


# -- the hub's form: traffic stays in rows, all the way to the browser --------
#
# The hub forwards traffic events to browsers as the rows they arrived in
# (``["MsgSent", node, t_ms, src, dst, seq, ...]``) and every other event as
# a JSON object with a ``type`` key. At 20,000 events/s, building a
# dataclass and then a dict per traffic event, and JSON with every field
# name repeated, was most of the hub's CPU and about half of the page's
# JSON parse; a row is checked (the same isinstance checks as ``from_list``)
# and passed on. The page turns rows back into objects with
# ``TRAFFIC_ROW_FIELDS``, which every ``events`` batch carries.

# Per traffic event type, the names of its row's fields after the tag.
TRAFFIC_ROW_FIELDS: dict[str, tuple[str, ...]] = {
    cls.__name__: tuple(f.name for f in fields(cls)) for cls in SHEDDABLE_EVENTS
}
# Every traffic row starts [tag, node, t_ms, src, dst, seq]: the hub sheds
# by t_ms and the viewers' sample keys on (src, seq) without knowing the tag.
SRC_INDEX = 3
SEQ_INDEX = 5
if any(n[:SEQ_INDEX] != ("node", "t_ms", "src", "dst", "seq") for n in TRAFFIC_ROW_FIELDS.values()):
    raise TypeError("every traffic event must start with node, t_ms, src, dst, seq")
_TRAFFIC_ROW_CHECKS = {cls.__name__: TELEMETRY.row_checks(cls) for cls in SHEDDABLE_EVENTS}
_MSG_RECEIVED = MsgReceived.__name__

# An event as the hub sends it to browsers: a traffic row, or any other
# event as a dict with a ``type`` key (also the hub's own records).
WireEvent = dict[str, Any] | list[Any]


@dataclass(frozen=True, slots=True)
class WireBatch:
    """One node's batch as the hub uses it."""

    node: str
    dropped_total: int
    events: list[Any]  # every event that is not traffic, as dataclasses, in order
    wire: list[WireEvent]  # the whole batch in order: traffic rows, the rest as dicts
    msgs_received: int  # MsgReceived rows among ``wire``


def decode_wire_batch(body: bytes) -> WireBatch:
    """Decode one frame body for the hub; refuses what ``decode_batch`` refuses."""
    node, dropped, rows = _decode_header(body)
    checks = _TRAFFIC_ROW_CHECKS
    from_list = TELEMETRY.from_list
    to_dict = TELEMETRY.to_dict
    events: list[Any] = []
    wire: list[WireEvent] = []
    received = 0
    for row in rows:
        # one dict lookup and one C-level isinstance pass per traffic row
        valid = type(row) is list and row and type(row[0]) is str
        accepted = checks.get(row[0]) if valid else None
        if (
            accepted is not None
            and len(row) == len(accepted)
            and all(map(isinstance, row, accepted))
        ):
            wire.append(row)
            if row[0] == _MSG_RECEIVED:
                received += 1
        else:  # a state event, or anything malformed: from_list checks (and refuses) it
            event = from_list(row)
            events.append(event)
            wire.append(to_dict(event))
    return WireBatch(node, dropped, events, wire, received)


def expand_wire_events(
    events: list[WireEvent], row_fields: dict[str, list[str]] | dict[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """A browser batch's events as dicts, for tests (the page does the same in
    frontend/js/state.js; bench/viewer_client.py reads rows as they are)."""
    out: list[dict[str, Any]] = []
    for e in events:
        if isinstance(e, dict):
            out.append(e)
        else:
            out.append({"type": e[0], **dict(zip(row_fields[e[0]], e[1:], strict=True))})
    return out
