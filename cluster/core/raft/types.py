"""The plain values that cross the boundary between the Raft core and its caller.

Everything the caller hands in (restored storage) or gets back (the answer to
a proposal, a read state, the soft state for telemetry) is defined here, so a
reader can see the whole vocabulary of the API in one place. ``Ready`` has its
own module because it carries the caller's obligations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from cluster.schema.raft import Entry


class RaftApiError(RuntimeError):
    """The local caller broke the API contract (a bug in the caller, not in a peer)."""


class RaftInvariantError(AssertionError):
    """The core found its own state impossible: a safety bug. Never caused by bad input."""


class Role(StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"  # thesis §9.6: asking for pre-votes, term unchanged
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """State machine state as of ``index`` (§7), with the voters at that index."""

    index: int
    term: int
    voters: tuple[str, ...]
    data: bytes

    def text(self) -> str:
        return (
            f"snapshot i{self.index}/t{self.term} {len(self.data)} B voters {','.join(self.voters)}"
        )


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it is sent (§5, Figure 2)."""

    term: int
    vote: str | None


@dataclass(slots=True)
class PersistentState:
    """What a restarted node finds on its disk; hand it to ``RaftNode`` to recover.

    ``entries`` follow ``snapshot`` (their first index is snapshot.index + 1,
    or 1 without a snapshot).
    """

    term: int = 0
    vote: str | None = None
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Proposed:
    """The proposal is in the leader's log at ``index`` in ``term``.

    It is committed when an entry with this index *and this term* is handed
    out in ``Ready.committed_entries``; if a different term shows up at that
    index, leadership changed and the proposal was lost (retry it: sessions
    make the retry safe).
    """

    index: int
    term: int


@dataclass(frozen=True, slots=True)
class NotLeader:
    """Only the leader accepts this; ``leader_hint`` is who this node thinks leads."""

    leader_hint: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    """The leader cannot take this now (a limit or a rule); ``reason`` says which."""

    reason: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """A read request was accepted; its ``ReadState`` comes in a later ``Ready``."""

    request_id: int


ProposeResult = Proposed | NotLeader | Refused
ReadResult = Accepted | NotLeader | Refused


@dataclass(frozen=True, slots=True)
class ReadState:
    """§6.4: ``request_id`` may be served once the state machine has applied ``read_index``.

    ``ok`` is False when the read could not be confirmed (leadership was lost
    before a quorum answered); the caller should retry, possibly elsewhere.
    """

    request_id: int
    read_index: int
    ok: bool = True


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts for telemetry and for routing clients; never persisted."""

    role: Role
    term: int
    leader: str | None
    voters: tuple[str, ...]
