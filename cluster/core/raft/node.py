"""``RaftNode``: the whole public API of the Raft core.

Inputs: ``tick()``, ``step(from, message)``, ``propose(data)``,
``propose_membership(action, node)``, ``read_index(request_id)``,
``compact(index, data)``. Output: ``ready()``, a value saying what to persist,
send, apply and answer; the caller does it and calls ``advance()``
(see ready.py for the exact order, and docs/raft-core.md).

Nothing here blocks, reads a clock or touches the disk: the same object runs
in a real node process (cluster/node) and by the thousand in the seeded
simulator (cluster/sim).
"""

from __future__ import annotations

from random import Random
from typing import Any

from cluster.core.raft.election import quorum_active, tick_election
from cluster.core.raft.log import RaftLog
from cluster.core.raft.membership import Membership
from cluster.core.raft.progress import Progress
from cluster.core.raft.read_index import forward_read, release_confirmed_reads, request_read
from cluster.core.raft.ready import Ready
from cluster.core.raft.replication import flush, heartbeat, maybe_commit
from cluster.core.raft.roles import become_follower
from cluster.core.raft.settings import RaftConfig
from cluster.core.raft.snapshot import compact, compaction_due
from cluster.core.raft.state import RaftState
from cluster.core.raft.step import step
from cluster.core.raft.types import (
    HardState,
    NotLeader,
    PersistentState,
    Proposed,
    ProposeResult,
    RaftApiError,
    ReadResult,
    Refused,
    Role,
    Snapshot,
    SoftState,
)
from cluster.schema.raft import (
    ENTRY_CONFIG,
    ENTRY_NORMAL,
    Entry,
    encode_voters,
    valid_node_id,
)

MEMBERSHIP_ACTIONS = ("add", "remove")


class RaftNode:
    """One Raft server's logic.

    ``peers`` are the voters of a brand-new cluster (including this node);
    a node that joins an existing cluster passes ``[]`` and learns the
    configuration from the leader. ``storage`` is what a restarted node
    finds on disk (None for a fresh one); the caller must also restore its
    state machine from ``storage.snapshot`` before feeding the node.
    """

    def __init__(
        self,
        node_id: str,
        peers: list[str],
        storage: PersistentState | None,
        rng: Random,
        config: RaftConfig | None = None,
    ) -> None:
        if not valid_node_id(node_id) or not all(valid_node_id(p) for p in peers):
            raise RaftApiError("node ids must be non-empty strings of at most 64 characters")
        self._s = s = RaftState(
            node_id, tuple(sorted(set(peers))), rng, (config or RaftConfig()).validate()
        )
        if storage is not None:
            _restore(s, storage)
        s.handed_hard_state = HardState(s.term, s.vote)
        s.reset_election_timer()
        self._outstanding: Ready | None = None
        self._handed_soft_state: SoftState | None = None

    # -- inputs ---------------------------------------------------------------

    def tick(self) -> None:
        """One unit of logical time: drives election timeouts and heartbeats."""
        s = self._s
        s.tick_count += 1
        if s.role is not Role.LEADER:
            tick_election(s)
            return
        s.election_elapsed += 1
        if s.election_elapsed >= s.cfg.election_timeout_min_ticks:
            s.election_elapsed = 0
            if s.cfg.check_quorum and not quorum_active(s):
                # Thesis §6.2: cut off from a quorum, we may already be deposed.
                become_follower(s, s.term, None)
                return
            for pr in s.progress.values():
                pr.recent_active = False
        s.heartbeat_elapsed += 1
        if s.heartbeat_elapsed >= s.cfg.heartbeat_interval_ticks:
            s.heartbeat_elapsed = 0
            heartbeat(s)

    def ticks_until_due(self) -> int:
        """How many ticks until the first one that may do more than count (at least 1).

        The ticks before it only advance counters, so a shell may skip waking
        up for them and deliver them late, in a burst, provided it delivers
        every tick that is due before any other input (``step``, ``propose``,
        ``ready``...): then the node sees the same sequence as when ticked
        on time.
        """
        s = self._s
        if s.role is not Role.LEADER:
            return max(1, s.randomized_timeout - s.election_elapsed)
        return max(
            1,
            min(
                s.cfg.heartbeat_interval_ticks - s.heartbeat_elapsed,
                s.cfg.election_timeout_min_ticks - s.election_elapsed,
            ),
        )

    def step(self, from_node: str, message: Any) -> None:
        """Handle a Raft message from ``from_node``. Malformed input is counted, never raised."""
        step(self._s, from_node, message)

    def propose(self, data: bytes) -> ProposeResult:
        """Append a command to the leader's log; it travels with the next Ready."""
        s = self._s
        if s.role is not Role.LEADER:
            return NotLeader(s.leader)
        if s.log.last_index() - s.commit_index >= s.cfg.max_uncommitted_entries:
            s.count("proposals_refused_limit")
            return Refused("too many uncommitted entries")
        entry = Entry(s.log.last_index() + 1, s.term, ENTRY_NORMAL, data)
        s.append_entry(entry)
        s.needs_flush = True
        return Proposed(entry.index, entry.term)

    def propose_membership(self, action: str, node_id: str) -> ProposeResult:
        """Thesis §4: add or remove one voter; refused while another change is uncommitted."""
        s = self._s
        if action not in MEMBERSHIP_ACTIONS:
            raise RaftApiError(f"action must be one of {MEMBERSHIP_ACTIONS}, got {action!r}")
        if not valid_node_id(node_id):
            raise RaftApiError(f"invalid node id {node_id!r}")
        if s.role is not Role.LEADER:
            return NotLeader(s.leader)
        if s.pending_config_index > s.commit_index:
            return Refused("a configuration change is still uncommitted")
        if not s.committed_in_term():
            # The fix to the single-server change bug (Ongaro, raft-dev 2015):
            # a new leader first commits an entry of its own term.
            return Refused("the leader has not yet committed an entry of its term")
        voters = s.voters
        if action == "add":
            if node_id in voters:
                return Refused(f"{node_id} is already a voter")
            new_voters = (*voters, node_id)
        else:
            if node_id not in voters:
                return Refused(f"{node_id} is not a voter")
            if len(voters) == 1:
                return Refused("cannot remove the last voter")
            new_voters = tuple(v for v in voters if v != node_id)
        entry = Entry(s.log.last_index() + 1, s.term, ENTRY_CONFIG, encode_voters(new_voters))
        s.append_entry(entry)
        s.pending_config_index = entry.index
        s.needs_flush = True
        return Proposed(entry.index, entry.term)

    def read_index(self, request_id: int) -> ReadResult:
        """§6.4: ask for a linearizable read; the answer is a ReadState in a later Ready.

        On the leader the read is confirmed by a heartbeat round; on a
        follower it is forwarded to the leader. ``request_id`` is the
        caller's, echoed in the ReadState.
        """
        s = self._s
        if s.role is Role.LEADER:
            return request_read(s, request_id, None)
        return forward_read(s, request_id)

    def compact(self, index: int, data: bytes) -> bool:
        """§7: ``data`` is the state machine as of applied ``index``; forget the log before it."""
        return compact(self._s, index, data)

    # -- output ---------------------------------------------------------------

    def has_ready(self) -> bool:
        """Is there anything for ``ready()`` to return? (False while a Ready is outstanding.)"""
        s = self._s
        if self._outstanding is not None:
            return False
        return bool(
            s.messages
            or s.read_states
            or s.log.has_unstable()
            or s.received_snapshot is not None
            or s.compacted is not None
            or HardState(s.term, s.vote) != s.handed_hard_state
            or min(s.commit_index, s.log.last_index()) > s.applied_index
            or self._soft_state() != self._handed_soft_state
            or (s.role is Role.LEADER and (s.needs_flush or s.commit_dirty or s.round_requested))
        )

    def ready(self) -> Ready:
        """Collect everything to persist, send, apply and answer (see ready.py for the order)."""
        if self._outstanding is not None:
            raise RaftApiError("ready() called again before advance()")
        s = self._s
        if s.role is Role.LEADER:
            maybe_commit(s)
            flush(s)
            release_confirmed_reads(s)
        rd = Ready(commit_index=s.commit_index)
        hard_state = HardState(s.term, s.vote)
        if hard_state != s.handed_hard_state:
            rd.hard_state = hard_state
            s.handed_hard_state = hard_state
        rd.snapshot, s.received_snapshot = s.received_snapshot, None
        rd.compacted, s.compacted = s.compacted, None
        rd.entries = s.log.take_unstable()
        rd.messages, s.messages = s.messages, []
        rd.read_states, s.read_states = s.read_states, []
        last_to_apply = min(
            s.commit_index, s.log.last_index(), s.applied_index + s.cfg.max_committed_per_ready
        )
        if last_to_apply > s.applied_index:
            rd.committed_entries = s.log.slice(s.applied_index + 1, last_to_apply)
            s.applied_index = last_to_apply
        soft_state = self._soft_state()
        if soft_state != self._handed_soft_state:
            rd.soft_state = soft_state
            self._handed_soft_state = soft_state
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """The caller persisted, sent and applied ``rd``."""
        if rd is not self._outstanding:
            raise RaftApiError("advance() must be given the Ready returned by the last ready()")
        self._outstanding = None
        s = self._s
        if rd.entries:
            s.log.mark_stable(rd.entries)
            if s.role is Role.LEADER:
                s.commit_dirty = True  # our own copy now counts towards the quorum

    # -- state, read-only -----------------------------------------------------

    @property
    def id(self) -> str:
        return self._s.id

    @property
    def role(self) -> Role:
        return self._s.role

    @property
    def term(self) -> int:
        return self._s.term

    @property
    def vote(self) -> str | None:
        return self._s.vote

    @property
    def leader(self) -> str | None:
        return self._s.leader

    @property
    def commit_index(self) -> int:
        return self._s.commit_index

    @property
    def applied_index(self) -> int:
        """The last index handed out in ``Ready.committed_entries`` (or restored from one)."""
        return self._s.applied_index

    @property
    def voters(self) -> tuple[str, ...]:
        return self._s.voters

    @property
    def log(self) -> RaftLog:
        """The in-memory log, for the simulator's checkers and for tests; do not modify."""
        return self._s.log

    @property
    def snapshot(self) -> Snapshot | None:
        return self._s.snapshot

    @property
    def compaction_due(self) -> bool:
        """§7: enough entries applied since the last snapshot; time to call ``compact``."""
        return compaction_due(self._s)

    @property
    def election_elapsed_ticks(self) -> int:
        """Ticks since the election timer was last reset (a leader's: its check-quorum timer)."""
        return self._s.election_elapsed

    @property
    def election_timeout_ticks(self) -> int:
        """When the election timer fires: this term's random timeout (a leader: the minimum)."""
        s = self._s
        if s.role is Role.LEADER:
            return s.cfg.election_timeout_min_ticks
        return s.randomized_timeout

    @property
    def counters(self) -> dict[str, int]:
        """Inputs dropped or refused, by reason (for telemetry)."""
        return dict(self._s.counters)

    def progress(self) -> dict[str, Progress]:
        """Leader only: each follower's replication state (for the dashboard); do not modify."""
        return self._s.progress

    def _soft_state(self) -> SoftState:
        s = self._s
        return SoftState(s.role, s.term, s.leader, s.voters)


def _restore(s: RaftState, storage: PersistentState) -> None:
    """Rebuild state from what the caller found on disk after a restart."""
    s.term = storage.term
    s.vote = storage.vote
    snapshot = storage.snapshot
    if snapshot is not None:
        s.log = RaftLog(snapshot.index, snapshot.term)
        s.membership = Membership(snapshot.voters, snapshot.index)
        s.snapshot = snapshot
        s.commit_index = s.applied_index = snapshot.index
    for entry in storage.entries:
        if entry.index != s.log.last_index() + 1:
            raise RaftApiError(f"restored entries must be consecutive: got {entry.index}")
        s.append_entry(entry)
    s.log.stable_index = s.log.last_index()
    s.log.unstable_from = s.log.last_index() + 1
