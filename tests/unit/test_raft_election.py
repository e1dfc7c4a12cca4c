"""Leader election: §5.2, §5.4.1, pre-vote (thesis §9.6), check-quorum (thesis §6.2)."""

from __future__ import annotations

import random

from cluster.core.raft import RaftConfig, RaftNode, Role
from cluster.schema.raft import (
    AppendEntries,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
)
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def no_pre_vote(**overrides: int | bool) -> RaftConfig:
    base = {
        "election_timeout_min_ticks": 10,
        "election_timeout_max_ticks": 20,
        "heartbeat_interval_ticks": 2,
        "pre_vote": False,
        "check_quorum": False,
    }
    base.update(overrides)
    return RaftConfig(**base)  # type: ignore[arg-type]


def test_a_follower_that_hears_nothing_campaigns_and_wins() -> None:
    # Reference: §5.2 — a follower times out, increments its term, votes for
    # itself and wins with a majority of votes.
    h = Harness(NODES, no_pre_vote())
    leader = h.elect("n1")
    assert leader.term == 1
    assert leader.vote == "n1"
    assert h.leaders() == ["n1"]
    assert all(h.raft(n).leader == "n1" and h.raft(n).term == 1 for n in NODES)
    assert len(h.messages_of(RequestVote)) == 2


def test_the_election_timeout_is_random_within_bounds_and_seeded() -> None:
    # Reference: §5.2 — randomized timeouts in [min, max] ticks; the same seed
    # gives the same timeout (determinism for the simulator).
    def ticks_until_campaign(seed: int) -> int:
        node = RaftNode("n1", NODES, None, random.Random(seed), no_pre_vote())
        for tick in range(1, 100):
            node.tick()
            if node.role is Role.CANDIDATE:
                return tick
        raise AssertionError("never campaigned")

    observed = [ticks_until_campaign(seed) for seed in range(40)]
    assert all(10 <= t <= 20 for t in observed)
    assert len(set(observed)) > 3  # actually random
    assert observed == [ticks_until_campaign(seed) for seed in range(40)]


def test_one_vote_per_term_survives_a_crash() -> None:
    # Reference: §5.2 and Figure 2 — votedFor is persistent: a voter that
    # restarts must not vote for a second candidate in the same term.
    h = Harness(NODES, no_pre_vote())
    h.campaign("n1")
    h.deliver(only=lambda src, dst, m: dst == "n2")  # n2 grants its vote to n1
    assert h.raft("n2").vote == "n1"
    h.crash("n2")
    voter = h.restart("n2")
    assert (voter.term, voter.vote) == (1, "n1")
    voter.step("n3", RequestVote(1, "n3", 0, 0))
    h.process("n2")
    replies = [m for src, dst, m in h.sent if src == "n2" and dst == "n3"]
    assert replies == [RequestVoteReply(1, False)]


def test_vote_refused_to_a_candidate_with_a_less_up_to_date_log() -> None:
    # Reference: §5.4.1 — a vote goes only to a log at least as up-to-date:
    # higher last term, or the same last term and at least as long.
    h = Harness(NODES, no_pre_vote())
    h.elect("n1")
    h.raft("n1").propose(b"x")
    h.settle()
    voter = h.raft("n2")
    term = voter.term + 1
    last_index, last_term = voter.log.last_index(), voter.log.last_term()
    voter.step("n3", RequestVote(term, "n3", last_index - 1, last_term))  # shorter
    h.process("n2")
    assert voter.vote is None
    voter.step("n3", RequestVote(term, "n3", last_index + 5, last_term - 1))  # older term
    h.process("n2")
    assert voter.vote is None
    voter.step("n3", RequestVote(term, "n3", last_index, last_term))  # as good
    h.process("n2")
    assert voter.vote == "n3"
    assert [m for s, d, m in h.sent if s == "n2" and d == "n3"][-3:] == [
        RequestVoteReply(term, False),
        RequestVoteReply(term, False),
        RequestVoteReply(term, True),
    ]


def test_a_candidate_steps_back_when_it_hears_from_the_leader_of_its_term() -> None:
    # Reference: §5.2 — a candidate that receives AppendEntries from a leader
    # with a term at least its own becomes a follower.
    h = Harness(NODES, no_pre_vote())
    h.campaign("n2")
    candidate = h.raft("n2")
    assert candidate.role is Role.CANDIDATE
    candidate.step("n3", AppendEntries(candidate.term, "n3", 0, 0, [], 0, 0))
    assert candidate.role.value == "follower"  # (mypy narrows role to CANDIDATE above)
    assert candidate.leader == "n3"


def test_pre_vote_keeps_a_partitioned_node_from_raising_its_term() -> None:
    # Reference: thesis §9.6 — a node cut off from the others asks for
    # pre-votes, which it never gets, so its term stays where it was.
    h = Harness(NODES)
    h.elect("n1")
    term = h.raft("n1").term
    h.isolate("n3")
    h.tick_all(200)
    assert h.raft("n3").term == term
    assert h.raft("n3").role is Role.PRE_CANDIDATE
    assert h.messages_of(PreVote)  # it did try


def test_a_returning_node_does_not_disrupt_the_leader() -> None:
    # Reference: thesis §9.6 — after the partition heals, the leader keeps
    # its term and its leadership; the returning node simply follows.
    h = Harness(NODES)
    leader = h.elect("n1")
    term = leader.term
    h.isolate("n3")
    h.tick_all(200)
    h.heal()
    h.tick_all(30)
    assert h.leaders() == ["n1"]
    assert leader.term == term
    assert h.raft("n3").role is Role.FOLLOWER
    assert h.raft("n3").leader == "n1"


def test_without_pre_vote_a_returning_node_does_disrupt() -> None:
    # Reference: thesis §9.6 — the problem pre-vote solves: the isolated
    # node's term climbs, and its return forces the leader to step down.
    h = Harness(NODES, no_pre_vote())
    leader = h.elect("n1")
    term = leader.term
    h.isolate("n3")
    h.tick_all(200)
    assert h.raft("n3").term > term + 3
    h.heal()
    h.tick_all(60)
    assert all(h.raft(n).term > term + 3 for n in NODES)


def test_pre_vote_is_granted_without_changing_the_voter() -> None:
    # Reference: thesis §9.6 — granting a pre-vote changes neither the
    # voter's term nor its vote.
    node = RaftNode("n2", NODES, None, random.Random(1), RaftConfig(check_quorum=False))
    node.step("n1", PreVote(1, "n1", 0, 0))
    rd = node.ready()
    assert rd.messages == [("n1", PreVoteReply(1, True))]
    assert (node.term, node.vote) == (0, None)
    assert rd.hard_state is None


def test_check_quorum_leader_steps_down_without_a_quorum() -> None:
    # Reference: thesis §6.2 — a leader that does not hear from a quorum
    # within an election timeout steps down.
    h = Harness(NODES)
    leader = h.elect("n1")
    h.isolate("n1")
    h.tick_all(h.config.election_timeout_min_ticks * 2 + 1)
    assert leader.role is not Role.LEADER
    assert "n1" not in h.leaders()


def test_followers_in_lease_ignore_vote_requests() -> None:
    # Reference: thesis §6.2 / §4.2.3 — a follower that heard from its leader
    # within the minimum election timeout ignores RequestVote, so a removed
    # server cannot depose a working leader.
    h = Harness(NODES)
    h.elect("n1")
    follower = h.raft("n2")
    follower.step("n9", RequestVote(follower.term + 5, "n9", 100, 100))
    assert follower.term == h.raft("n1").term
    assert follower.vote == "n1"
    assert follower.counters.get("vote_ignored_in_lease") == 1


def test_a_single_node_cluster_elects_itself() -> None:
    # Reference: §5.2 — a majority of one is oneself.
    h = Harness(["solo"])
    leader = h.elect("solo")
    assert leader.role is Role.LEADER
    assert leader.propose(b"x").__class__.__name__ == "Proposed"
    h.settle()
    assert leader.commit_index == 2  # no-op and the command
