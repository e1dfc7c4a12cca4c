"""Leader election (§5.2, §5.4.1) with pre-vote and check-quorum (thesis §9.6, §6.2).

A follower that hears nothing for its randomized timeout campaigns. With
pre-vote it first asks "would you vote for me in term T+1?" without raising
its own term; only if a quorum says yes does it become a real candidate.
A node cut off from the others therefore keeps its term, and when it comes
back it cannot force the working leader to step down.

Check-quorum is the other half: a leader that has not heard from a quorum
for an election timeout steps down, and a follower that heard from a leader
within the minimum election timeout ignores vote requests (it has reason to
believe the leader is alive). Together they keep a removed or returning
server from disrupting the cluster (thesis §4.2.3).
"""

from __future__ import annotations

from cluster.core.raft.roles import (
    become_candidate,
    become_follower,
    become_leader,
    become_pre_candidate,
)
from cluster.core.raft.state import RaftState
from cluster.core.raft.types import Role
from cluster.schema.raft import PreVote, PreVoteReply, RequestVote, RequestVoteReply


def tick_election(s: RaftState) -> None:
    """Followers and candidates: count towards the randomized election timeout."""
    s.election_elapsed += 1
    if s.election_elapsed >= s.randomized_timeout and s.promotable():
        campaign(s)
    # A node that may not campaign keeps counting: election_elapsed is then
    # the time since it last heard from a leader, which the lease check
    # (in_lease) relies on; resetting it would keep the lease alive forever.


def campaign(s: RaftState) -> None:
    """Start an election; with pre-vote, start with the pre-vote round (as etcd does)."""
    if s.cfg.pre_vote:
        become_pre_candidate(s)
        _ask(s, pre=True)
    else:
        _start_real_election(s)


def _start_real_election(s: RaftState) -> None:
    become_candidate(s)
    _ask(s, pre=False)


def _ask(s: RaftState, pre: bool) -> None:
    """Vote for ourselves, then ask every other voter (§5.2)."""
    term = s.term + 1 if pre else s.term
    last_index, last_term = s.log.last_index(), s.log.last_term()
    if _tally(s, s.id, True, pre):
        return
    for peer in s.voters:
        if peer == s.id:
            continue
        if pre:
            s.send(peer, PreVote(term, s.id, last_index, last_term))
        else:
            s.send(peer, RequestVote(term, s.id, last_index, last_term))


def _tally(s: RaftState, voter: str, granted: bool, pre: bool) -> bool:
    """Record one answer; act once a quorum has answered alike. True if the phase ended."""
    if voter not in s.voters or voter in s.votes:
        return False  # only voters count, and only their first answer
    s.votes[voter] = granted
    yes = sum(1 for g in s.votes.values() if g)
    no = len(s.votes) - yes
    if yes >= s.quorum():
        if pre:
            _start_real_election(s)
        else:
            become_leader(s)
        return True
    if no > len(s.voters) - s.quorum():
        become_follower(s, s.term, None)
        return True
    return False


def handle_vote_request(s: RaftState, frm: str, m: PreVote | RequestVote) -> None:
    """§5.2 and §5.4.1: grant at most one vote per term, and only to an up-to-date log.

    Called after the term rules in step.py: a RequestVote here carries our
    current term; a PreVote may carry a higher one (it changes nothing).
    """
    pre = isinstance(m, PreVote)
    can_vote = (
        s.vote == m.candidate or (s.vote is None and s.leader is None) or (pre and m.term > s.term)
    )
    if can_vote and s.log.is_up_to_date(m.last_log_index, m.last_log_term):
        if pre:
            s.send(frm, PreVoteReply(m.term, True))
        else:
            s.vote = m.candidate
            s.election_elapsed = 0  # §5.2: granting a vote resets the timer
            s.send(frm, RequestVoteReply(m.term, True))
        return
    if pre:
        s.send(frm, PreVoteReply(s.term, False))
    else:
        s.send(frm, RequestVoteReply(s.term, False))


def handle_pre_vote_reply(s: RaftState, frm: str, m: PreVoteReply) -> None:
    if s.role is not Role.PRE_CANDIDATE:
        return
    # A grant carries the proposed term; a refusal carries the voter's term,
    # which the term rules already handled if it was higher than ours.
    if m.granted and m.term != s.term + 1:
        return
    _tally(s, frm, m.granted, pre=True)


def handle_vote_reply(s: RaftState, frm: str, m: RequestVoteReply) -> None:
    if s.role is not Role.CANDIDATE or m.term != s.term:
        return
    _tally(s, frm, m.granted, pre=False)


def quorum_active(s: RaftState) -> bool:
    """Check-quorum: has the leader heard from a quorum of voters this period?"""
    active = sum(
        1
        for voter in s.voters
        if voter == s.id or (voter in s.progress and s.progress[voter].recent_active)
    )
    return active >= s.quorum()


def in_lease(s: RaftState) -> bool:
    """Check-quorum's other half: we heard from a leader too recently to vote it out."""
    return (
        s.cfg.check_quorum
        and s.leader is not None
        and s.election_elapsed < s.cfg.election_timeout_min_ticks
    )
