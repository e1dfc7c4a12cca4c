"""Membership changes one server at a time: thesis chapter 4."""

from __future__ import annotations

from cluster.core.raft import NotLeader, Proposed, RaftApiError, Refused, Role
from cluster.schema.raft import ENTRY_CONFIG, RequestVote
from cluster.sim.harness import Harness

NODES = ["n1", "n2", "n3"]


def test_a_new_node_joins_catches_up_and_votes() -> None:
    # Reference: thesis §4.1 — a configuration entry adds one server; it
    # takes effect on every server as soon as it is in the log.
    h = Harness(NODES)
    leader = h.elect("n1")
    for i in range(5):
        leader.propose(f"cmd{i}".encode())
    h.settle()
    h.add_node("n4", [])  # a fresh process: it knows no configuration
    assert h.raft("n4").voters == ()
    result = leader.propose_membership("add", "n4")
    assert isinstance(result, Proposed)
    assert leader.voters == ("n1", "n2", "n3", "n4")  # in effect at once
    h.tick_all(5)
    assert h.raft("n4").voters == ("n1", "n2", "n3", "n4")
    assert h.raft("n4").log.last_index() == leader.log.last_index()
    assert h.raft("n4").commit_index == leader.commit_index
    assert [e.kind for e in h.nodes["n4"].applied][-1] == ENTRY_CONFIG


def test_a_joining_node_never_campaigns_before_it_learns_a_configuration() -> None:
    # Reference: thesis §4.2.1 — a new server with an empty log must not
    # disrupt the cluster; without a configuration it is not a candidate.
    h = Harness(NODES)
    h.elect("n1")
    h.add_node("n4", [])
    h.isolate("n4")
    h.tick_all(100)
    assert h.raft("n4").role is Role.FOLLOWER and h.raft("n4").term == 0
    assert not [m for s, d, m in h.sent if s == "n4"]


def test_only_one_change_at_a_time() -> None:
    # Reference: thesis §4.1 — a leader does not start a change until the
    # previous one is committed, so majorities of successive configurations
    # always overlap.
    h = Harness(NODES)
    leader = h.elect("n1")
    h.add_node("n4", [])
    h.add_node("n5", [])
    assert isinstance(leader.propose_membership("add", "n4"), Proposed)
    assert leader.propose_membership("add", "n5") == Refused(
        "a configuration change is still uncommitted"
    )
    h.tick_all(3)
    assert isinstance(leader.propose_membership("add", "n5"), Proposed)


def test_a_new_leader_commits_in_its_term_before_changing_membership() -> None:
    # Reference: the single-server change bug (Ongaro, raft-dev, 2015): a
    # leader must commit an entry of its own term before a change.
    h = Harness(NODES)
    h.campaign("n1")
    for _ in range(4):  # pre-votes, their grants, votes, their grants
        h.deliver()
    # n1 now leads, but its no-op has not reached anyone yet.
    leader = h.raft("n1")
    assert leader.role is Role.LEADER and leader.commit_index == 0
    refused = leader.propose_membership("remove", "n3")
    assert isinstance(refused, Refused)
    h.settle()
    assert isinstance(leader.propose_membership("remove", "n3"), Proposed)


def test_a_removed_follower_stops_receiving_and_cannot_disrupt() -> None:
    # Reference: thesis §4.2.3 — a removed server no longer hears heartbeats;
    # its vote requests are ignored while the cluster has a leader.
    h = Harness(NODES)
    leader = h.elect("n1")
    term = leader.term
    assert isinstance(leader.propose_membership("remove", "n3"), Proposed)
    h.tick_all(3)
    assert leader.voters == ("n1", "n2")
    h.tick_all(150)
    assert h.leaders() == ["n1"] and leader.term == term
    assert leader.propose(b"after").__class__ is Proposed
    h.tick_all(3)
    assert h.raft("n2").commit_index == leader.commit_index


def test_the_leader_can_remove_itself_and_steps_down_once_committed() -> None:
    # Reference: thesis §4.2.2 — a leader removed from the configuration
    # manages the cluster without counting itself until the change commits,
    # then steps down; the others elect a leader among themselves.
    h = Harness(NODES)
    leader = h.elect("n1")
    h.sent.clear()
    assert isinstance(leader.propose_membership("remove", "n1"), Proposed)
    h.settle()
    h.tick_all(2)
    assert leader.role is Role.FOLLOWER
    h.tick_all(60)
    (new_leader,) = h.leaders()
    assert new_leader in ("n2", "n3")
    assert h.raft(new_leader).voters == ("n2", "n3")
    assert not [m for s, d, m in h.sent if s == "n1" and isinstance(m, RequestVote)]


def test_a_removed_node_with_the_uncommitted_change_can_still_be_elected() -> None:
    # Reference: thesis §4.1 — a server not in its latest configuration still
    # campaigns while that configuration is uncommitted (not counting its own
    # vote): it may hold the only copy of the change.
    h = Harness(["n1", "n2"])
    leader = h.elect("n1")
    h.isolate("n2")
    assert isinstance(leader.propose_membership("remove", "n1"), Proposed)
    h.process()
    h.tick_all(h.config.election_timeout_min_ticks * 2 + 1)  # check-quorum: n1 steps down
    assert leader.role is not Role.LEADER
    h.heal()
    h.tick_all(100)
    assert h.leaders() == ["n2"]
    assert h.raft("n2").voters == ("n2",)


def test_membership_requests_are_checked() -> None:
    # Reference: thesis §4 — the API refuses what would break the rules.
    h = Harness(["n1"])
    leader = h.elect("n1")
    assert leader.propose_membership("remove", "n1") == Refused("cannot remove the last voter")
    assert leader.propose_membership("add", "n1") == Refused("n1 is already a voter")
    assert h.raft("n1").propose_membership("remove", "n9") == Refused("n9 is not a voter")
    follower = Harness(NODES).raft("n2")
    assert follower.propose_membership("add", "n4") == NotLeader(None)
    try:
        leader.propose_membership("promote", "n2")
    except RaftApiError:
        return
    raise AssertionError("an unknown action was accepted")
