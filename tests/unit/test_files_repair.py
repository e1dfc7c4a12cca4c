"""Repair and rebalance plans (cluster/core/files/repair.py).

The safety rules are checked as properties over random clusters, files,
down sets and confirmations: a plan never leaves a chunk with fewer
confirmed copies than it had (up to rf) and never drops the last live copy;
it changes at most the per-round limit, additions first. The movement
rules are checked by running rounds to the end, with every listed live
node confirming what it is listed for, as the holder loops do: after a node
joins, consistent hashing (≥ 100 virtual nodes) and rendezvous move about
K/N of the chunks, modulo most of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.files.meta import MIN_CHUNK_BYTES, ChunkMeta, FileMeta, PlacementSettings
from cluster.core.files.plan import desired_replicas, effective_rf
from cluster.core.files.repair import (
    MAX_CHUNK_CHANGES_PER_ROUND,
    RepairPlan,
    in_transition,
    listed_here,
    plan_repair,
    referenced,
)

POOL = tuple(f"n{i}" for i in range(1, 9))
MD5_ZERO = "0" * 32


def sha(i: int) -> str:
    return hashlib.sha256(f"chunk {i}".encode()).hexdigest()


def make_file(name: str, chunks: Sequence[tuple[str, list[str]]]) -> FileMeta:
    size_bytes = len(chunks) * MIN_CHUNK_BYTES
    return FileMeta(
        name,
        size_bytes,
        MIN_CHUNK_BYTES,
        MD5_ZERO,
        hashlib.sha256(name.encode()).hexdigest(),
        1,
        0,
        [ChunkMeta(s, MIN_CHUNK_BYTES, list(r)) for s, r in chunks],
    )


def apply_plan(files: dict[str, FileMeta], plan: RepairPlan) -> dict[str, FileMeta]:
    out = dict(files)
    for update in plan.updates:
        assert out[update.name] == update.before  # an fcas of what was read
        out[update.name] = update.after
    return out


def confirmed_copies(
    replicas: Collection[str], sha256: str, down: Collection[str], confirmed: Mapping[str, set[str]]
) -> int:
    return sum(1 for n in replicas if n not in down and sha256 in confirmed.get(n, set()))


def every_listed_live_node_confirms(
    files: Mapping[str, FileMeta], down: Collection[str]
) -> dict[str, set[str]]:
    """What the holder loops report once they have fetched what they are listed for."""
    confirmed: dict[str, set[str]] = {}
    for meta in files.values():
        for chunk in meta.chunks:
            for node in chunk.replicas:
                if node not in down:
                    confirmed.setdefault(node, set()).add(chunk.sha256)
    return confirmed


def run_to_the_end(
    files: dict[str, FileMeta],
    placement: PlacementSettings,
    voters: Sequence[str],
    down: Collection[str] = (),
    max_rounds: int = 200,
    max_chunk_changes: int = MAX_CHUNK_CHANGES_PER_ROUND,
) -> dict[str, FileMeta]:
    for _ in range(max_rounds):
        confirmed = every_listed_live_node_confirms(files, down)
        plan = plan_repair(files, placement, voters, down, confirmed, max_chunk_changes)
        if not plan.updates:
            return files
        files = apply_plan(files, plan)
    raise AssertionError(f"no fixed point after {max_rounds} rounds")


def placed(count: int, placement: PlacementSettings, voters: Sequence[str]) -> dict[str, FileMeta]:
    """``count`` one-chunk files, each chunk where the placement puts it."""
    return {
        f"f{i:05}": make_file(
            f"f{i:05}", [(sha(i), desired_replicas(placement, voters, (), sha(i)))]
        )
        for i in range(count)
    }


def replica_sets(files: Mapping[str, FileMeta]) -> dict[str, set[str]]:
    return {name: set(meta.chunks[0].replicas) for name, meta in files.items()}


# -- safety, as properties ------------------------------------------------------


@st.composite
def clusters(draw: st.DrawFn) -> tuple[Any, ...]:
    voters = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True))
    placement = PlacementSettings(
        strategy=draw(st.sampled_from(["consistent", "rendezvous", "modulo"])),
        hash=draw(st.sampled_from(["sha256", "md5", "modhash"])),
        rf=draw(st.integers(1, 5)),
        vnodes=draw(st.sampled_from([1, 16, 128])),
    )
    # Listed nodes may include former members: membership changed since.
    replicas = st.lists(st.sampled_from(POOL), max_size=6, unique=True)
    files: dict[str, FileMeta] = {}
    for f in range(draw(st.integers(0, 4))):
        chunks = [
            (sha(draw(st.integers(0, 30))), draw(replicas)) for _ in range(draw(st.integers(1, 5)))
        ]
        files[f"file{f}"] = make_file(f"file{f}", chunks)
    down = set(draw(st.lists(st.sampled_from(POOL), max_size=4)))
    shas = [sha(i) for i in range(31)]
    confirmed = {node: set(draw(st.lists(st.sampled_from(shas), max_size=20))) for node in POOL}
    limit = draw(st.integers(0, 12))
    return files, placement, voters, down, confirmed, limit


@settings(max_examples=100, deadline=None)
@given(clusters())
def test_a_plan_never_loses_confirmed_or_live_copies(cluster: tuple[Any, ...]) -> None:
    files, placement, voters, down, confirmed, limit = cluster
    plan = plan_repair(files, placement, voters, down, confirmed, limit)
    rf = effective_rf(placement, voters)
    after = apply_plan(files, plan)
    for name, meta in files.items():
        for before_chunk, after_chunk in zip(meta.chunks, after[name].chunks, strict=True):
            s = before_chunk.sha256
            before_ok = confirmed_copies(before_chunk.replicas, s, down, confirmed)
            after_ok = confirmed_copies(after_chunk.replicas, s, down, confirmed)
            assert after_ok >= min(before_ok, rf)
            live_before = [n for n in before_chunk.replicas if n not in down]
            live_after = [n for n in after_chunk.replicas if n not in down]
            if live_before:
                assert live_after, f"{s[:8]}: the last live copy was dropped"
            for node in set(before_chunk.replicas) - set(after_chunk.replicas):
                # Only a node that is down, or a trim to fully confirmed desired nodes.
                desired = desired_replicas(placement, voters, down, s)
                assert node in down or (
                    node not in desired
                    and all(s in confirmed.get(d, set()) for d in desired)
                    and set(after_chunk.replicas) == set(desired)
                )


@settings(max_examples=60, deadline=None)
@given(clusters())
def test_a_plan_is_bounded_deterministic_and_adds_before_it_trims(
    cluster: tuple[Any, ...],
) -> None:
    files, placement, voters, down, confirmed, limit = cluster
    plan = plan_repair(files, placement, voters, down, confirmed, limit)
    assert plan == plan_repair(files, placement, voters, down, confirmed, limit)
    adds, trims = chunk_changes(plan)
    assert adds + trims <= limit
    all_adds, all_trims = chunk_changes(plan_repair(files, placement, voters, down, confirmed))
    assert adds + trims + plan.deferred == all_adds + all_trims
    if trims:
        assert adds == all_adds  # a trim only once every addition has its turn


def chunk_changes(plan: RepairPlan) -> tuple[int, int]:
    """(chunks given a new holder, chunks only trimmed) in a plan."""
    adds = trims = 0
    for update in plan.updates:
        for a, b in zip(update.before.chunks, update.after.chunks, strict=True):
            if any(n not in a.replicas for n in b.replicas):
                adds += 1
            elif a.replicas != b.replicas:
                trims += 1
    return adds, trims


@settings(max_examples=40, deadline=None)
@given(clusters())
def test_rounds_reach_the_desired_sets(cluster: tuple[Any, ...]) -> None:
    files, placement, voters, down, _confirmed, _limit = cluster
    end = run_to_the_end(files, placement, voters, down)
    rf = effective_rf(placement, voters)
    for meta in end.values():
        for chunk in meta.chunks:
            desired = desired_replicas(placement, voters, down, chunk.sha256)
            assert set(desired) <= set(chunk.replicas)
            if len(desired) == rf:
                assert set(chunk.replicas) == set(desired)
            else:  # too few nodes up: every copy is kept
                assert len(chunk.replicas) >= len(desired)


# -- examples ------------------------------------------------------------------


VOTERS5 = ("n1", "n2", "n3", "n4", "n5")
RF3 = PlacementSettings(rf=3)


def test_a_down_node_is_replaced_and_trimmed_only_when_the_new_copy_is_confirmed() -> None:
    files = placed(40, RF3, VOTERS5)
    name, meta = next((n, m) for n, m in files.items() if "n2" in m.chunks[0].replicas)
    s = meta.chunks[0].sha256
    plan = plan_repair(files, RF3, VOTERS5, {"n2"}, {})
    files = apply_plan(files, plan)
    listed = files[name].chunks[0].replicas
    desired = desired_replicas(RF3, VOTERS5, {"n2"}, s)
    assert listed[:3] == meta.chunks[0].replicas and set(listed) == {"n2", *desired}
    assert in_transition(listed, RF3, VOTERS5)
    # Not yet confirmed by the newcomer: nothing is trimmed.
    old_holders = {n: {s} for n in meta.chunks[0].replicas if n != "n2"}
    assert not plan_repair(files, RF3, VOTERS5, {"n2"}, old_holders).updates
    newcomer = next(n for n in desired if n not in meta.chunks[0].replicas)
    plan = plan_repair(files, RF3, VOTERS5, {"n2"}, {**old_holders, newcomer: {s}})
    trimmed = next(u for u in plan.updates if u.name == name)
    assert trimmed.after.chunks[0].replicas == desired and trimmed.removed == 1


def test_with_too_few_nodes_up_nothing_is_trimmed() -> None:
    voters = ("n1", "n2", "n3")
    files = placed(5, RF3, voters)
    everyone = every_listed_live_node_confirms(files, ())
    plan = plan_repair(files, RF3, voters, {"n3"}, everyone)
    assert plan.updates == []  # n3's copies are kept: they may be all that survives


def test_nothing_happens_when_every_member_is_down() -> None:
    files = placed(5, RF3, VOTERS5)
    assert plan_repair(files, RF3, VOTERS5, set(VOTERS5), {}).updates == []
    assert plan_repair(files, RF3, (), (), {}).updates == []


def test_the_round_limit_defers_the_rest_to_later_rounds() -> None:
    files = placed(200, RF3, VOTERS5)
    # About 3/5 of the chunks were on n4: more new holders than one round may add.
    plan = plan_repair(files, RF3, VOTERS5, {"n4"}, {})
    assert sum(u.added for u in plan.updates) == MAX_CHUNK_CHANGES_PER_ROUND
    assert plan.deferred > 0
    small = plan_repair(files, RF3, VOTERS5, {"n4"}, {}, max_chunk_changes=3)
    assert sum(u.added for u in small.updates) == 3
    assert small.deferred == plan.deferred + MAX_CHUNK_CHANGES_PER_ROUND - 3
    with pytest.raises(ValueError):
        plan_repair(files, RF3, VOTERS5, (), {}, max_chunk_changes=-1)


def test_identical_chunks_in_two_files_are_listed_and_referenced_once() -> None:
    a = make_file("a", [(sha(1), ["n1", "n2"]), (sha(2), ["n2", "n3"])])
    b = make_file("b", [(sha(1), ["n1", "n4"])])
    assert listed_here([a, b], "n1") == {sha(1): ["n1", "n2", "n4"]}
    assert listed_here([a, b], "n2") == {sha(1): ["n1", "n2"], sha(2): ["n2", "n3"]}
    assert referenced([a, b]) == {sha(1), sha(2)}


# -- movement: placement and membership changes ------------------------------------

CHUNKS = 1200


def moved_after_join(strategy: str, rf: int) -> tuple[float, float, dict[str, set[str]]]:
    """Fraction of chunks whose holders changed, and of (chunk, node) placements added."""
    placement = PlacementSettings(strategy=strategy, rf=rf, vnodes=128)
    before = placed(CHUNKS, placement, VOTERS5)
    # No round limit: the limit changes when chunks move, not where they end up.
    after = run_to_the_end(before, placement, (*VOTERS5, "n6"), max_chunk_changes=CHUNKS)
    old, new = replica_sets(before), replica_sets(after)
    moved = [name for name in old if old[name] != new[name]]
    added = sum(len(new[name] - old[name]) for name in old)
    changed = {name: new[name] - old[name] for name in moved}
    return len(moved) / CHUNKS, added / (CHUNKS * rf), changed


@pytest.mark.parametrize("strategy", ["consistent", "rendezvous"])
@pytest.mark.parametrize("rf", [1, 3])
def test_a_join_moves_about_k_over_n_and_only_to_the_newcomer(strategy: str, rf: int) -> None:
    moved_fraction, placements_fraction, changed = moved_after_join(strategy, rf)
    share = 1 / 6  # the newcomer's fair share of 6 nodes
    assert 0.6 * share <= placements_fraction <= 1.5 * share
    assert moved_fraction <= 1.5 * rf * share
    assert all(new == {"n6"} for new in changed.values())


def test_a_join_with_modulo_moves_most_chunks() -> None:
    moved_fraction, placements_fraction, _ = moved_after_join("modulo", 1)
    assert moved_fraction > 0.7
    assert placements_fraction > 0.7


def test_a_strategy_change_rebalances_to_the_new_desired_sets() -> None:
    files = placed(300, RF3, VOTERS5)
    rendezvous = PlacementSettings(strategy="rendezvous", rf=3)
    after = run_to_the_end(files, rendezvous, VOTERS5)
    moved = 0
    for name, meta in after.items():
        s = meta.chunks[0].sha256
        assert set(meta.chunks[0].replicas) == set(desired_replicas(rendezvous, VOTERS5, (), s))
        moved += set(meta.chunks[0].replicas) != set(files[name].chunks[0].replicas)
    assert 0 < moved < 300


def test_a_departed_member_is_trimmed_once_its_replacements_confirm() -> None:
    files = placed(100, RF3, VOTERS5)
    remaining = ("n1", "n2", "n3", "n4")
    after = run_to_the_end(files, RF3, remaining)
    for meta in after.values():
        assert "n5" not in meta.chunks[0].replicas and len(meta.chunks[0].replicas) == 3
