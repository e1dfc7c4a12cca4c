"""All the state of one Raft node, in one plain object.

Figure 2 of the paper lists the state every server keeps; this class holds
exactly that (persistent: term, vote, log; volatile: commit index, role;
leader-only: progress of each follower) plus the output collected for the
next ``Ready``. The behaviour lives in modules named after what they do
(election, replication, snapshot, read_index, membership_change), each a set
of functions over this object, as etcd's raft.go is a set of functions over
its ``raft`` struct. The public API is ``RaftNode`` in node.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from random import Random
from typing import Any

from cluster.core.raft.log import RaftLog
from cluster.core.raft.membership import Membership, quorum_size
from cluster.core.raft.progress import Progress
from cluster.core.raft.settings import RaftConfig
from cluster.core.raft.types import HardState, RaftInvariantError, ReadState, Role, Snapshot
from cluster.schema.raft import ENTRY_CONFIG, Entry, decode_voters

# Read requests a follower has forwarded to the leader and not yet heard
# back about; older ones are forgotten (their clients time out and retry).
MAX_FORWARDED_READS = 4096


@dataclass(slots=True)
class PendingRead:
    """A ReadIndex request waiting for a quorum to confirm this leader (§6.4)."""

    request_id: int
    origin: str | None  # None: asked locally; else the follower that forwarded it
    round_needed: int  # confirmed once a quorum has echoed this heartbeat round
    read_index: int  # commit index when the read arrived (0: not yet known)


@dataclass(slots=True)
class ReceivingSnapshot:
    """Chunks of a snapshot arriving from the leader (§7), assembled in order."""

    index: int
    term: int
    voters: tuple[str, ...]
    buffer: bytearray


class RaftState:
    def __init__(
        self,
        node_id: str,
        voters: tuple[str, ...],
        rng: Random,
        config: RaftConfig,
    ) -> None:
        self.id = node_id
        self.cfg = config
        self.rng = rng
        # Persistent state (Figure 2): written through Ready.hard_state / entries.
        self.term = 0
        self.vote: str | None = None
        self.log = RaftLog()
        self.snapshot: Snapshot | None = None  # latest snapshot, data kept to send to followers
        self.membership = Membership(voters)
        # Volatile state.
        self.role = Role.FOLLOWER
        self.leader: str | None = None
        self.commit_index = 0
        self.applied_index = 0  # last index handed out in Ready.committed_entries
        self.tick_count = 0
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = config.election_timeout_max_ticks
        self.votes: dict[str, bool] = {}
        # Leader state.
        self.progress: dict[str, Progress] = {}
        self.term_start_index = 0  # index of this leader's no-op (§8)
        self.pending_config_index = 0  # thesis §4.1: one change at a time
        self.round = 0  # heartbeat round for ReadIndex
        self.round_requested = False
        self.pending_reads: deque[PendingRead] = deque()
        self.needs_flush = False  # followers may be owed AppendEntries
        self.commit_dirty = False  # match indexes moved: maybe commit more
        # Follower state.
        self.forwarded_reads: dict[int, int] = {}  # request_id -> term asked in
        self.receiving: ReceivingSnapshot | None = None
        # Output for the next Ready.
        self.messages: list[tuple[str, Any]] = []
        self.read_states: list[ReadState] = []
        self.received_snapshot: Snapshot | None = None
        self.compacted: Snapshot | None = None
        self.handed_hard_state = HardState(0, None)  # last hard state given out in a Ready
        # Why some input was dropped (malformed, stale, over a limit): for telemetry.
        self.counters: dict[str, int] = {}

    # -- small helpers used by every module ---------------------------------

    @property
    def voters(self) -> tuple[str, ...]:
        return self.membership.voters

    def quorum(self) -> int:
        return quorum_size(len(self.membership.voters))

    def send(self, to: str, message: Any) -> None:
        self.messages.append((to, message))

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def promotable(self) -> bool:
        """May this node start an election?

        Yes if it is a voter. Thesis §4.1: a server removed by a configuration
        entry that is not committed yet must still campaign (without counting
        its own vote), because it may be the only one holding that entry; once
        the removal is committed it never campaigns again. A node that joins
        with no configuration never campaigns until it learns one.
        """
        if self.id in self.membership.voters:
            return True
        return bool(self.membership.voters) and self.membership.latest_index > self.commit_index

    def reset_election_timer(self) -> None:
        """§5.2: a fresh random timeout, drawn from the seeded generator."""
        self.election_elapsed = 0
        self.randomized_timeout = self.rng.randint(
            self.cfg.election_timeout_min_ticks, self.cfg.election_timeout_max_ticks
        )

    def committed_in_term(self) -> bool:
        """Has this leader committed an entry of its own term (its no-op)?"""
        return self.commit_index >= self.term_start_index > 0

    # -- the log and the configuration change together ----------------------

    def append_entry(self, entry: Entry) -> None:
        """Append to the log; a configuration entry takes effect at once (thesis §4.1)."""
        self.log.append(entry)
        if entry.kind == ENTRY_CONFIG:
            voters = decode_voters(entry.data)
            if voters is None:
                # Every node decodes the same bytes, so every node ignores it alike.
                self.count("bad_config_entry")
                return
            self.membership.add(entry.index, voters)
            self.sync_progress()

    def truncate_log(self, index: int) -> None:
        """Drop a conflicting suffix (§5.3), and any configuration it carried."""
        if index <= self.commit_index:
            raise RaftInvariantError(
                f"{self.id}: truncating committed entry {index} (commit {self.commit_index})"
            )
        before = self.membership.voters
        self.log.truncate_from(index)
        self.membership.truncate_from(index)
        if self.membership.voters != before:
            self.sync_progress()

    def sync_progress(self) -> None:
        """A leader tracks exactly the other voters of the current configuration."""
        if self.role is not Role.LEADER:
            return
        voters = self.membership.voters
        for peer in list(self.progress):
            if peer not in voters:
                del self.progress[peer]
        for peer in voters:
            if peer != self.id and peer not in self.progress:
                self.progress[peer] = Progress(self.log.last_index() + 1, self.tick_count)
        self.needs_flush = True
