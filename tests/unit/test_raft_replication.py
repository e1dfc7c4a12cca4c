"""Log replication and commitment: §5.3, §5.4.2 (Figure 8), §8, thesis §10.2."""

from __future__ import annotations

from typing import Any

from cluster.core.raft import Mode, RaftConfig, Role
from cluster.schema.raft import (
    ENTRY_NOOP,
    AppendEntries,
    AppendEntriesReply,
    Entry,
)
from cluster.sim.harness import Harness

FIVE = ["n1", "n2", "n3", "n4", "n5"]


def small_batches(**overrides: Any) -> RaftConfig:
    base: dict[str, Any] = {
        "election_timeout_min_ticks": 10,
        "election_timeout_max_ticks": 20,
        "heartbeat_interval_ticks": 2,
        "max_entries_per_append": 1,
    }
    base.update(overrides)
    return RaftConfig(**base)


def start_from_logs(config: RaftConfig, disks: dict[str, tuple[int, list[int]]]) -> Harness:
    """A five-node cluster restarted from crafted disks: node -> (term, entry terms)."""
    h = Harness(FIVE, config)
    for node_id, (term, entry_terms) in disks.items():
        h.crash(node_id)
        h.set_disk(node_id, term, entry_terms)
        h.restart(node_id)
    return h


def terms(h: Harness, node_id: str) -> list[int]:
    log = h.raft(node_id).log
    return [log.term_at(i) or 0 for i in range(1, log.last_index() + 1)]


def test_a_new_leader_appends_a_no_op_of_its_term() -> None:
    # Reference: §8 — a leader commits a blank no-op entry at the start of its
    # term, which also commits the entries of earlier terms.
    h = Harness(["n1", "n2", "n3"])
    leader = h.elect("n1")
    first = leader.log.entry(1)
    assert (first.term, first.kind, first.data) == (leader.term, ENTRY_NOOP, b"")
    assert all(h.raft(n).commit_index == 1 for n in h.nodes)


def test_proposals_are_replicated_committed_and_applied_in_order() -> None:
    # Reference: §5.3 — the leader appends, replicates, commits once a
    # majority stores the entry, and every node applies it in log order.
    h = Harness(["n1", "n2", "n3"])
    leader = h.elect("n1")
    for i in range(10):
        leader.propose(f"cmd{i}".encode())
    h.settle()
    h.tick_all(2)
    for node_id in h.nodes:
        applied = [e.data for e in h.nodes[node_id].applied if e.data]
        assert applied == [f"cmd{i}".encode() for i in range(10)]


def test_proposals_made_together_travel_in_one_append() -> None:
    # Reference: thesis §10.2.1 — batching: proposals made between two Readies
    # go out in one AppendEntries per follower (and one fsync).
    h = Harness(["n1", "n2", "n3"])
    leader = h.elect("n1")
    h.sent.clear()
    for i in range(50):
        leader.propose(f"cmd{i}".encode())
    h.process("n1")
    appends = [m for s, d, m in h.sent if isinstance(m, AppendEntries) and m.entries]
    assert len(appends) == 2  # one per follower
    assert all(len(m.entries) == 50 for m in appends)


def test_appends_are_pipelined_up_to_the_inflight_limit() -> None:
    # Reference: thesis §10.2.2 — a leader in the replicate state does not
    # wait for an answer before sending the next batch, up to a limit.
    h = Harness(["n1", "n2", "n3"], small_batches(max_inflight_appends=4))
    leader = h.elect("n1")
    h.tick_all(2)
    h.sent.clear()
    for i in range(10):
        leader.propose(f"cmd{i}".encode())
    h.process("n1")
    to_n2 = [m for s, d, m in h.sent if d == "n2" and isinstance(m, AppendEntries) and m.entries]
    assert len(to_n2) == 4  # four single-entry appends in flight, no answer yet
    assert leader.progress()["n2"].mode is Mode.REPLICATE
    h.settle()
    assert h.raft("n2").log.last_index() == leader.log.last_index()


def test_a_follower_refuses_entries_that_do_not_follow_its_log() -> None:
    # Reference: §5.3 — the consistency check: AppendEntries carries the
    # index and term of the preceding entry; a follower without it refuses.
    h = Harness(["n1", "n2", "n3"])
    h.elect("n1")
    follower = h.raft("n2")
    term = follower.term
    entry = Entry(5, term, 0, b"x")
    follower.step("n1", AppendEntries(term, "n1", 4, term, [entry], 0, 0))
    rd = follower.ready()
    assert rd.entries == []
    ((_, reply),) = rd.messages
    assert isinstance(reply, AppendEntriesReply) and not reply.success
    assert (reply.conflict_term, reply.conflict_index) == (0, follower.log.last_index() + 1)
    follower.advance(rd)


def test_a_conflicting_suffix_is_replaced_by_the_leaders_entries() -> None:
    # Reference: §5.3 — a follower deletes a conflicting entry and all that
    # follow it, then appends the leader's; Log Matching then holds.
    h = start_from_logs(
        small_batches(max_entries_per_append=64),
        {
            "n1": (3, [1, 1, 3, 3]),
            "n2": (2, [1, 1, 2, 2, 2, 2]),  # an old leader's uncommitted suffix
            "n3": (3, [1, 1, 3]),
            "n4": (1, [1]),
            "n5": (1, [1]),
        },
    )
    h.elect("n1")
    h.tick_all(2)
    assert terms(h, "n2") == terms(h, "n1") == [1, 1, 3, 3, 4]


def test_fast_back_off_skips_a_whole_term_per_round_trip() -> None:
    # Reference: §5.3 (end) — with the conflicting term and its first index in
    # the refusal, the leader skips all entries of that term at once.
    h = start_from_logs(
        small_batches(max_entries_per_append=64),
        {
            "n1": (3, [1] + [3] * 40),
            "n2": (2, [1] + [2] * 40),
            "n3": (3, [1] + [3] * 40),
            "n4": (1, [1]),
            "n5": (1, [1]),
        },
    )
    h.elect("n1")
    h.tick_all(2)
    refusals = [
        m for s, d, m in h.sent if s == "n2" and isinstance(m, AppendEntriesReply) and not m.success
    ]
    assert 1 <= len(refusals) <= 2  # without the optimisation: one per entry, 40
    assert terms(h, "n2") == terms(h, "n1")


def test_figure_8_an_old_term_entry_on_a_majority_is_not_committed_by_counting() -> None:
    # Reference: §5.4.2, Figure 8 (c)-(d) — the leader of term 4 replicates
    # index 2 of term 2 to a majority, but must not commit it by counting
    # replicas: a leader of term 5 could still overwrite it, and does.
    h = start_from_logs(
        small_batches(pre_vote=False, check_quorum=False),
        {
            "n1": (3, [1, 2]),
            "n2": (3, [1]),
            "n3": (3, [1]),
            "n4": (3, [1]),
            "n5": (3, [1, 3]),
        },
    )
    h.isolate("n4")
    h.isolate("n5")
    h.campaign("n1")
    h.deliver(only=lambda s, d, m: not isinstance(m, AppendEntries))  # votes only
    h.deliver(only=lambda s, d, m: not isinstance(m, AppendEntries))
    leader = h.raft("n1")
    assert (leader.role, leader.term) == (Role.LEADER, 4)

    def only_up_to_index_2(src: str, dst: str, m: object) -> bool:
        # Hold back any append that would give a follower index 3 (the no-op
        # of term 4) once it has index 2.
        if isinstance(m, AppendEntries) and m.entries and m.entries[-1].index >= 3:
            return h.raft(dst).log.last_index() < 2
        return True

    for _ in range(6):
        h.deliver(only=only_up_to_index_2)
    assert [terms(h, n) for n in ("n1", "n2", "n3")] == [[1, 2, 4], [1, 2], [1, 2]]
    progress = leader.progress()
    assert progress["n2"].match_index == progress["n3"].match_index == 2  # and it knows
    assert leader.commit_index < 2  # §5.4.2: not committed by counting

    # Figure 8 (d): n1 crashes; n5 (last term 3) wins and overwrites index 2.
    h.crash("n1")
    h.heal()
    h.isolate("n1")
    h.queue.clear()
    h.campaign("n5")  # term 4: n2 and n3 already voted for n1 in that term
    h.settle()
    while h.raft("n5").term < 5:
        h.tick("n5")  # its election times out; it tries again in term 5
    h.settle()
    assert h.raft("n5").role is Role.LEADER
    h.tick_all(3)
    assert terms(h, "n2")[1] == 3 and terms(h, "n3")[1] == 3


def test_figure_8_once_a_current_term_entry_is_on_a_majority_both_commit() -> None:
    # Reference: §5.4.2, Figure 8 (e) — when an entry of the leader's own term
    # reaches a majority, it and everything before it are committed, and the
    # node with the term-3 entry can no longer win an election.
    h = start_from_logs(
        small_batches(pre_vote=False, check_quorum=False),
        {
            "n1": (3, [1, 2]),
            "n2": (3, [1, 2]),
            "n3": (3, [1]),
            "n4": (3, [1]),
            "n5": (3, [1, 3]),
        },
    )
    h.isolate("n4")
    h.isolate("n5")
    leader = h.elect("n1")
    h.tick_all(2)
    assert leader.commit_index == 3  # index 2 (term 2) and the no-op (term 4)
    h.crash("n1")
    h.heal()
    h.isolate("n1")
    h.tick_all(100)
    (new_leader,) = h.leaders()
    assert new_leader in ("n2", "n3")  # n5's log is less up-to-date than theirs
    assert terms(h, "n5")[:3] == [1, 2, 4]  # its term-3 entry was overwritten


def test_a_follower_learns_the_commit_index_only_for_entries_it_holds() -> None:
    # Reference: Figure 2, AppendEntries rule 5 — commitIndex =
    # min(leaderCommit, index of last new entry).
    h = Harness(["n1", "n2", "n3"])
    h.elect("n1")
    follower = h.raft("n2")
    term = follower.term
    follower.step("n1", AppendEntries(term, "n1", 1, term, [], 50, 0))
    assert follower.commit_index == 1


def test_a_leader_only_counts_its_own_entries_once_persisted() -> None:
    # Reference: Figure 2 / §5.3 with thesis §10.2.1 — an entry counts as
    # stored on the leader only after the leader's own Ready was persisted.
    h = Harness(["solo"])
    leader = h.elect("solo")
    leader.propose(b"x")
    rd = leader.ready()
    assert rd.entries and leader.commit_index == 1
    leader.advance(rd)
    assert leader.has_ready()
    rd = leader.ready()
    assert [e.data for e in rd.committed_entries] == [b"x"]
    leader.advance(rd)
