"""The four roles and what changes when a node enters one (Figure 2, thesis §9.6).

follower ──timeout──> pre-candidate ──pre-vote quorum──> candidate ──vote quorum──> leader
   ^                        │                                │                         │
   └──── higher term, or a leader of the current term, or a lost election ─────────────┘

Without pre-vote a follower goes straight to candidate. Every transition
that raises the term clears the vote: §5.2 allows one vote per term.
"""

from __future__ import annotations

from cluster.core.raft.progress import Progress
from cluster.core.raft.read_index import fail_forwarded_reads, fail_pending_reads
from cluster.core.raft.state import RaftState
from cluster.core.raft.types import RaftInvariantError, Role
from cluster.schema.raft import ENTRY_NOOP, Entry


def become_follower(s: RaftState, term: int, leader: str | None) -> None:
    if term < s.term:
        raise RaftInvariantError(f"{s.id}: term going back from {s.term} to {term}")
    if s.role is Role.LEADER:
        fail_pending_reads(s)
        s.progress.clear()
    if term > s.term or leader != s.leader:
        # Reads forwarded to another leader, or in another term, will not be answered.
        fail_forwarded_reads(s)
    if term > s.term:
        s.term = term
        s.vote = None
    s.role = Role.FOLLOWER
    s.leader = leader
    s.votes.clear()
    s.reset_election_timer()


def become_pre_candidate(s: RaftState) -> None:
    """Thesis §9.6: ask first, without touching the term, whether an election could be won."""
    if s.role is Role.LEADER:
        raise RaftInvariantError(f"{s.id}: a leader cannot become a pre-candidate")
    fail_forwarded_reads(s)
    s.role = Role.PRE_CANDIDATE
    s.leader = None
    s.votes.clear()
    s.reset_election_timer()


def become_candidate(s: RaftState) -> None:
    """§5.2: increment the term and vote for yourself."""
    if s.role is Role.LEADER:
        raise RaftInvariantError(f"{s.id}: a leader cannot become a candidate")
    fail_forwarded_reads(s)
    s.term += 1
    s.vote = s.id
    s.role = Role.CANDIDATE
    s.leader = None
    s.votes.clear()
    s.reset_election_timer()


def become_leader(s: RaftState) -> None:
    if s.role is not Role.CANDIDATE:
        raise RaftInvariantError(f"{s.id}: only a candidate can become leader")
    s.role = Role.LEADER
    s.leader = s.id
    s.votes.clear()
    s.heartbeat_elapsed = 0
    s.election_elapsed = 0
    last = s.log.last_index()
    s.progress = {peer: Progress(last + 1, s.tick_count) for peer in s.voters if peer != s.id}
    # Thesis §4.1 (and the 2015 single-server-change bug fix): no configuration
    # change until everything in the log at election time is committed.
    s.pending_config_index = last
    # §8: a no-op of the new term lets the leader commit entries of older
    # terms (which §5.4.2 forbids counting directly) and learn the commit index.
    s.term_start_index = last + 1
    s.append_entry(Entry(last + 1, s.term, ENTRY_NOOP, b""))
    s.needs_flush = True
    s.commit_dirty = True
