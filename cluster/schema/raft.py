"""Raft's wire messages: the only way two Raft cores talk to each other.

The pure core (cluster/core/raft) produces these values and consumes them;
the node shell wraps them in an ``Envelope`` and the simulator passes them
through its simulated network. They are registered with ``@wire`` so they
travel as flat msgpack arrays.

Log entries travel as ``[index, term, kind, data]`` arrays: ``Entry`` is a
``NamedTuple``, which msgpack packs as an array without any conversion, so a
leader sends a slice of its in-memory log as it is. A receiver gets plain
lists back and must check them with ``parse_entries`` before use: remote data
is untrusted and a malformed message is dropped and counted, never crashes a
node.

Every message carries the sender's ``term`` first (§5.1: a server that sees a
higher term adopts it; a message with a stale term is refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from cluster.schema.codec import pack, unpack
from cluster.schema.messages import wire
from cluster.schema.registry import DecodeError

# Kinds of log entries.
ENTRY_NORMAL = 0  # a command for the state machine (opaque bytes)
ENTRY_NOOP = 1  # appended by every new leader (§8: commits the previous terms' entries)
ENTRY_CONFIG = 2  # a new set of voters (thesis §4: one server added or removed)
ENTRY_KINDS = (ENTRY_NORMAL, ENTRY_NOOP, ENTRY_CONFIG)
ENTRY_KIND_NAMES = {ENTRY_NORMAL: "normal", ENTRY_NOOP: "noop", ENTRY_CONFIG: "config"}

# A node id names a process in logs, URLs and config entries; keep it short.
MAX_NODE_ID_CHARS = 64
# A cluster is at most 50 nodes (config.MAX_NODES); a config entry or snapshot
# listing more voters than this is malformed.
MAX_VOTERS = 64


class Entry(NamedTuple):
    """One log entry. Index and term identify it (§5.3 Log Matching)."""

    # Shadows tuple.index(), which nothing uses: "entry.index" is the paper's name.
    index: int  # type: ignore[assignment]
    term: int
    kind: int
    data: bytes

    def text(self) -> str:
        return (
            f"{self.index}/t{self.term} {ENTRY_KIND_NAMES.get(self.kind, '?')} {len(self.data)} B"
        )


def parse_entries(raw: Any, first_index: int, max_term: int) -> list[Entry] | None:
    """Check entries received from the network; None when any is malformed.

    Entries must be consecutive from ``first_index`` with terms that never
    decrease and never exceed the sender's term: a log built by Raft always
    looks like that, so anything else is a bug or an attack.
    """
    if not isinstance(raw, list):
        return None
    out: list[Entry] = []
    previous_term = 0
    for offset, item in enumerate(raw):
        if type(item) is Entry:
            entry = item
        else:
            if not isinstance(item, list | tuple) or len(item) != 4:
                return None
            index, term, kind, data = item
            if not (
                isinstance(index, int)
                and isinstance(term, int)
                and isinstance(kind, int)
                and isinstance(data, bytes)
            ):
                return None
            entry = Entry(index, term, kind, data)
        if entry.index != first_index + offset or entry.kind not in ENTRY_KINDS:
            return None
        if entry.term < previous_term or entry.term > max_term or entry.term < 1:
            return None
        previous_term = entry.term
        out.append(entry)
    return out


def valid_node_id(node: Any) -> bool:
    return isinstance(node, str) and 0 < len(node) <= MAX_NODE_ID_CHARS


def encode_voters(voters: list[str] | tuple[str, ...]) -> bytes:
    """The data of an ENTRY_CONFIG entry: the complete new set of voters."""
    return pack(sorted(voters))


def decode_voters(data: bytes) -> tuple[str, ...] | None:
    """Voters from a config entry, or None when the bytes are not a valid list."""
    try:
        raw = unpack(data)
    except (ValueError, DecodeError):
        return None
    if not isinstance(raw, list) or len(raw) > MAX_VOTERS:
        return None
    if not all(valid_node_id(v) for v in raw) or len(set(raw)) != len(raw):
        return None
    return tuple(raw)


def _span(prev_log_index: int, count: int) -> str:
    if count == 0:
        return f"p{prev_log_index} empty"
    if count == 1:
        return f"i{prev_log_index + 1}"
    return f"i{prev_log_index + 1}..{prev_log_index + count}"


@wire
@dataclass(frozen=True, slots=True)
class AppendEntries:
    """§5.3: replicate entries after (prev_log_index, prev_log_term); empty = heartbeat.

    ``round`` is the leader's heartbeat round, echoed in the reply: ReadIndex
    (§6.4) confirms leadership once a quorum has echoed a round that was sent
    after the read arrived.
    """

    term: int
    leader: str
    prev_log_index: int
    prev_log_term: int
    entries: list[Entry]
    leader_commit: int
    round: int

    def text(self) -> str:
        return (
            f"AppendEntries t{self.term} {_span(self.prev_log_index, len(self.entries))}"
            f" c{self.leader_commit}"
        )


@wire
@dataclass(frozen=True, slots=True)
class AppendEntriesReply:
    """Answer to AppendEntries.

    On success ``index`` is the last index known to match the leader's log.
    On refusal ``index`` is the refused request's prev_log_index, and the
    conflict fields let the leader skip a whole term at a time (fast back-off,
    §5.3 end): ``conflict_term`` is the follower's term at that index (0 when
    its log is shorter) and ``conflict_index`` the first index it holds for
    that term (or its last index + 1).
    """

    term: int
    success: bool
    index: int
    conflict_term: int
    conflict_index: int
    round: int

    def text(self) -> str:
        if self.success:
            return f"AppendEntriesReply t{self.term} ok i{self.index}"
        return (
            f"AppendEntriesReply t{self.term} reject i{self.index}"
            f" conflict t{self.conflict_term}@{self.conflict_index}"
        )


@wire
@dataclass(frozen=True, slots=True)
class PreVote:
    """Thesis §9.6: "would you vote for me in ``term``?" Changes nobody's state."""

    term: int
    candidate: str
    last_log_index: int
    last_log_term: int

    def text(self) -> str:
        return f"PreVote t{self.term} last {self.last_log_index}/t{self.last_log_term}"


@wire
@dataclass(frozen=True, slots=True)
class PreVoteReply:
    term: int
    granted: bool

    def text(self) -> str:
        return f"PreVoteReply t{self.term} {'granted' if self.granted else 'refused'}"


@wire
@dataclass(frozen=True, slots=True)
class RequestVote:
    """§5.2: a candidate asks for a vote; §5.4.1: only an up-to-date log gets one."""

    term: int
    candidate: str
    last_log_index: int
    last_log_term: int

    def text(self) -> str:
        return f"RequestVote t{self.term} last {self.last_log_index}/t{self.last_log_term}"


@wire
@dataclass(frozen=True, slots=True)
class RequestVoteReply:
    term: int
    granted: bool

    def text(self) -> str:
        return f"RequestVoteReply t{self.term} {'granted' if self.granted else 'refused'}"


@wire
@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """§7: one chunk of the leader's snapshot for a follower that is too far behind.

    Chunks go out one at a time from ``offset``; ``done`` marks the last one.
    ``voters`` is the configuration as of ``last_index`` (thesis §4: a
    snapshot must carry the membership it was taken under).
    """

    term: int
    leader: str
    last_index: int
    last_term: int
    voters: list[str]
    offset: int
    data: bytes
    done: bool

    def text(self) -> str:
        end = self.offset + len(self.data)
        tail = " done" if self.done else ""
        return (
            f"InstallSnapshot t{self.term} i{self.last_index}/t{self.last_term}"
            f" bytes {self.offset}..{end}{tail}"
        )


@wire
@dataclass(frozen=True, slots=True)
class InstallSnapshotReply:
    """``next_offset``: the next byte the follower wants; ``done``: it now has the snapshot."""

    term: int
    last_index: int
    next_offset: int
    done: bool

    def text(self) -> str:
        state = "installed" if self.done else f"next {self.next_offset}"
        return f"InstallSnapshotReply t{self.term} i{self.last_index} {state}"


@wire
@dataclass(frozen=True, slots=True)
class ReadIndexRequest:
    """§6.4: a follower asks the leader for a read index on behalf of its client."""

    term: int
    request_id: int

    def text(self) -> str:
        return f"ReadIndexRequest t{self.term} #{self.request_id}"


@wire
@dataclass(frozen=True, slots=True)
class ReadIndexReply:
    """The confirmed read index for ``request_id``, or ``ok`` False when the leader gave up."""

    term: int
    request_id: int
    read_index: int
    ok: bool

    def text(self) -> str:
        if not self.ok:
            return f"ReadIndexReply t{self.term} #{self.request_id} failed"
        return f"ReadIndexReply t{self.term} #{self.request_id} i{self.read_index}"


RaftMessage = (
    AppendEntries
    | AppendEntriesReply
    | PreVote
    | PreVoteReply
    | RequestVote
    | RequestVoteReply
    | InstallSnapshot
    | InstallSnapshotReply
    | ReadIndexRequest
    | ReadIndexReply
)

RAFT_MESSAGE_TYPES: tuple[type[Any], ...] = (
    AppendEntries,
    AppendEntriesReply,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    InstallSnapshot,
    InstallSnapshotReply,
    ReadIndexRequest,
    ReadIndexReply,
)


def is_raft_message(value: Any) -> bool:
    return type(value) in RAFT_MESSAGE_TYPES
