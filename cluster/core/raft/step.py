"""Message dispatch: the term rules first, then one table of handlers per role.

§5.1: every message carries its sender's term. A higher term makes us a
follower of it (with two exceptions for pre-vote and for the leader lease);
a lower term marks a stale sender, which we answer only to let it catch up.
What a message means then depends on our role, so each role has its own
table (as etcd's stepLeader / stepCandidate / stepFollower); a message type
missing from a role's table is ignored there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cluster.core.raft.election import (
    handle_pre_vote_reply,
    handle_vote_reply,
    handle_vote_request,
    in_lease,
)
from cluster.core.raft.read_index import handle_read_reply, handle_read_request
from cluster.core.raft.replication import handle_append_entries, handle_append_reply
from cluster.core.raft.roles import become_follower
from cluster.core.raft.snapshot import handle_install_snapshot, handle_snapshot_reply
from cluster.core.raft.state import RaftState
from cluster.core.raft.types import RaftInvariantError, Role
from cluster.schema.raft import (
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply,
    PreVote,
    PreVoteReply,
    ReadIndexReply,
    ReadIndexRequest,
    RequestVote,
    RequestVoteReply,
    is_raft_message,
)

Handler = Callable[[RaftState, str, Any], None]

# Messages only a leader sends: seeing one in our term tells us who leads.
_FROM_LEADER = (AppendEntries, InstallSnapshot, ReadIndexReply)


def step(s: RaftState, frm: str, m: Any) -> None:
    if not is_raft_message(m) or not isinstance(m.term, int) or m.term < 0:
        s.count("malformed_message")
        return
    if m.term > s.term:
        if isinstance(m, PreVote | RequestVote) and in_lease(s):
            # Thesis §6.2/§4.2.3: we heard from a live leader within the
            # minimum election timeout, so this candidate is probably a
            # removed or returning server: do not let it depose the leader.
            s.count("vote_ignored_in_lease")
            return
        if isinstance(m, PreVote) or (isinstance(m, PreVoteReply) and m.granted):
            pass  # §9.6: a pre-vote and its grant carry a future term, not a real one
        else:
            become_follower(s, m.term, frm if isinstance(m, _FROM_LEADER) else None)
    elif m.term < s.term:
        _answer_stale(s, frm, m)
        return
    _TABLES[s.role].get(type(m), _ignore)(s, frm, m)


def _answer_stale(s: RaftState, frm: str, m: Any) -> None:
    """A message from an older term. Answer the kinds whose sender must learn our term."""
    s.count("stale_term")
    if isinstance(m, AppendEntries | InstallSnapshot):
        # A deposed leader (or one cut off while we moved on) learns the new
        # term from this and steps down. Without it, with check-quorum, a
        # node whose term rose during a partition could stay unable to rejoin.
        s.send(frm, AppendEntriesReply(s.term, False, 0, 0, 0, 0))
    elif isinstance(m, PreVote):
        s.send(frm, PreVoteReply(s.term, False))
    elif isinstance(m, RequestVote):
        s.send(frm, RequestVoteReply(s.term, False))


def _ignore(s: RaftState, frm: str, m: Any) -> None:
    s.count(f"ignored_{type(m).__name__}_as_{s.role}")


def _leader_sees_append(s: RaftState, frm: str, m: Any) -> None:
    raise RaftInvariantError(f"{s.id}: two leaders in term {s.term} ({s.id} and {frm})")


def _follow_then(handler: Handler) -> Handler:
    """A candidate that hears from the leader of its term steps back (§5.2)."""

    def step_as_follower(s: RaftState, frm: str, m: Any) -> None:
        become_follower(s, s.term, frm)
        handler(s, frm, m)

    return step_as_follower


_VOTES: dict[type, Handler] = {
    PreVote: handle_vote_request,
    RequestVote: handle_vote_request,
}

step_follower: dict[type, Handler] = {
    **_VOTES,
    AppendEntries: handle_append_entries,
    InstallSnapshot: handle_install_snapshot,
    ReadIndexRequest: handle_read_request,
    ReadIndexReply: handle_read_reply,
}

step_candidate: dict[type, Handler] = {
    **_VOTES,
    AppendEntries: _follow_then(handle_append_entries),
    InstallSnapshot: _follow_then(handle_install_snapshot),
    PreVoteReply: handle_pre_vote_reply,
    RequestVoteReply: handle_vote_reply,
    ReadIndexRequest: handle_read_request,
}

step_leader: dict[type, Handler] = {
    **_VOTES,
    AppendEntries: _leader_sees_append,
    InstallSnapshot: _leader_sees_append,
    AppendEntriesReply: handle_append_reply,
    InstallSnapshotReply: handle_snapshot_reply,
    ReadIndexRequest: handle_read_request,
}

_TABLES: dict[Role, dict[type, Handler]] = {
    Role.FOLLOWER: step_follower,
    Role.PRE_CANDIDATE: step_candidate,
    Role.CANDIDATE: step_candidate,
    Role.LEADER: step_leader,
}
