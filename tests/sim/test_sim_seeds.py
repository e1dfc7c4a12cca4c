"""The seeded whole-cluster simulation: thousands of chaotic runs, every invariant checked.

``SIM_SEEDS`` scales the number of seeds (default 2000, about a minute on
one core); ``SIM_START`` moves the window. For long runs use the command
line: ``.venv/bin/python -m cluster.sim --seeds 100000 --start 2000``.
"""

from __future__ import annotations

import os

import pytest

from cluster.core.raft import Ready
from cluster.sim.cluster import Simulation
from cluster.sim.disk import SimDisk
from cluster.sim.run import reproduce_command, run_seed

SIM_SEEDS = int(os.environ.get("SIM_SEEDS", "2000"))
SIM_START = int(os.environ.get("SIM_START", "0"))


@pytest.mark.timeout(1800)
def test_every_seed_keeps_every_invariant() -> None:
    # Reference: §5.2 Election Safety, §5.3 Log Matching, §5.4 Leader
    # Completeness and State Machine Safety (Figure 3), thesis §6.3
    # exactly-once, §6.4 linearizable reads, liveness after healing.
    for seed in range(SIM_START, SIM_START + SIM_SEEDS):
        outcome = run_seed(seed)
        if outcome.failure is not None:
            pytest.fail(
                "\n".join(
                    [
                        *outcome.settings_lines,
                        f"FAILED: {outcome.failure}",
                        f"reproduce: {reproduce_command(seed)}",
                    ]
                ),
                pytrace=False,
            )


def test_a_seed_replays_exactly() -> None:
    first = Simulation(42)
    first.run()
    second = Simulation(42)
    second.run()
    assert first.stats == second.stats
    assert first.history.ops == second.history.ops
    assert first.stats.commits > 0 and first.history.ops


def test_the_simulation_catches_a_node_that_forgets_its_vote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The checkers are only worth something if they fail on a broken Raft:
    # a disk that never writes term and votedFor (Figure 2) lets a restarted
    # node vote twice in one term; some seed must catch it.
    original = SimDisk.save

    def save_without_hard_state(self: SimDisk, rd: Ready) -> None:
        rd.hard_state = None
        original(self, rd)

    monkeypatch.setattr(SimDisk, "save", save_without_hard_state)
    safety = ("election_safety", "log_matching", "leader_completeness", "state_machine_safety")
    for seed in range(1000):
        failure = run_seed(seed).failure
        if failure is not None and any(name in failure for name in safety):
            return
    raise AssertionError("no seed noticed that votes are forgotten on restart")


def test_the_simulation_catches_votes_for_stale_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without §5.4.1's up-to-date check, a leader can miss committed entries.
    from cluster.core.raft.log import RaftLog

    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    caught = (run_seed(seed).failure for seed in range(100))
    assert any(f is not None and "leader_completeness" in f for f in caught)


def test_the_simulation_catches_stale_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # A leader that answers ReadIndex without a quorum's confirmation (§6.4
    # step 3 skipped) serves stale reads once deposed; the linearizability
    # checker must notice in some seed.
    import cluster.core.raft.read_index as read_index

    monkeypatch.setattr(read_index, "confirmed_round", lambda s: s.round)
    # Seed 382 was the first to catch it when this was written (the search
    # took ~20 s); trying it first keeps CI fast, the search still follows.
    for seed in (382, *range(2000)):
        failure = run_seed(seed).failure
        if failure is not None:
            assert "linearizability" in failure, failure
            return
    raise AssertionError("no seed noticed reads served without a quorum")
