"""Linearizable reads without writing to the log: ReadIndex (§6.4 of the thesis).

A leader may have been deposed without knowing it, so it cannot answer from
its state machine straight away. Instead:

1. It must have committed an entry of its own term (its no-op), so that its
   commit index is at least that of any earlier leader.
2. It records ``read_index`` = its commit index when the read arrives.
3. It sends a heartbeat round *after* the read arrived; once a quorum echoes
   that round, it was still the leader at a moment after the read arrived.
4. The read is served when the state machine has applied ``read_index``.

Many reads share one round. A follower forwards its client's read to the
leader and serves it locally once its own state machine reaches the index
the leader confirmed.

No lease is used: leases depend on bounded clock drift, and a laboratory
that pauses processes (SIGSTOP) on request would break that assumption.
"""

from __future__ import annotations

from cluster.core.raft.state import MAX_FORWARDED_READS, PendingRead, RaftState
from cluster.core.raft.types import Accepted, NotLeader, ReadResult, ReadState, Refused, Role
from cluster.schema.raft import ReadIndexReply, ReadIndexRequest


def request_read(s: RaftState, request_id: int, origin: str | None) -> ReadResult:
    """Leader: queue a read for confirmation by the next heartbeat round."""
    if len(s.pending_reads) >= s.cfg.max_pending_reads:
        s.count("reads_refused_limit")
        return Refused("too many pending reads")
    read_index = s.commit_index if s.committed_in_term() else 0
    s.pending_reads.append(PendingRead(request_id, origin, s.round + 1, read_index))
    s.round_requested = True
    return Accepted(request_id)


def forward_read(s: RaftState, request_id: int) -> ReadResult:
    """Follower: ask the leader for a read index on behalf of a local client."""
    if s.leader is None or s.role is not Role.FOLLOWER:
        return NotLeader(s.leader)
    if len(s.forwarded_reads) >= MAX_FORWARDED_READS:
        s.count("reads_refused_limit")
        return Refused("too many forwarded reads")
    s.forwarded_reads[request_id] = s.term
    s.send(s.leader, ReadIndexRequest(s.term, request_id))
    return Accepted(request_id)


def confirmed_round(s: RaftState) -> int:
    """The highest heartbeat round echoed by a quorum of voters (the leader echoes itself)."""
    rounds = sorted(
        (s.round if voter == s.id else s.progress[voter].round_acked for voter in s.voters),
        reverse=True,
    )
    return rounds[s.quorum() - 1] if rounds else 0


def release_confirmed_reads(s: RaftState) -> None:
    """Leader: answer every read whose round a quorum has confirmed."""
    pending = s.pending_reads
    if not pending or not s.committed_in_term():
        return
    confirmed = confirmed_round(s)
    while pending and pending[0].round_needed <= confirmed:
        read = pending.popleft()
        # A read that arrived before the no-op committed gets the commit index
        # now, which is at least the commit index of every earlier leader.
        index = read.read_index or s.commit_index
        if read.origin is None:
            s.read_states.append(ReadState(read.request_id, index))
        else:
            s.send(read.origin, ReadIndexReply(s.term, read.request_id, index, True))


def fail_pending_reads(s: RaftState) -> None:
    """Leadership is lost: local reads fail now; followers' reads fail on their side."""
    for read in s.pending_reads:
        if read.origin is None:
            s.read_states.append(ReadState(read.request_id, 0, ok=False))
    s.pending_reads.clear()
    s.round_requested = False


def fail_forwarded_reads(s: RaftState) -> None:
    for request_id in s.forwarded_reads:
        s.read_states.append(ReadState(request_id, 0, ok=False))
    s.forwarded_reads.clear()


def handle_read_request(s: RaftState, frm: str, m: ReadIndexRequest) -> None:
    """A follower's forwarded read; only the leader can answer it."""
    if s.role is not Role.LEADER:
        s.send(frm, ReadIndexReply(s.term, m.request_id, 0, False))
        return
    result = request_read(s, m.request_id, frm)
    if not isinstance(result, Accepted):
        s.send(frm, ReadIndexReply(s.term, m.request_id, 0, False))


def handle_read_reply(s: RaftState, frm: str, m: ReadIndexReply) -> None:
    asked_in_term = s.forwarded_reads.get(m.request_id)
    if asked_in_term != m.term:
        return  # not ours, or from another term: its read state was already failed
    del s.forwarded_reads[m.request_id]
    s.read_states.append(ReadState(m.request_id, m.read_index, m.ok))
