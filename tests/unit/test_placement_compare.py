"""Balance and movement measured on real placements, against stated bounds.

Bounds (docs/placement-core.md): with K = 6000 keys on N ≤ 10 nodes, modulo
and rendezvous keep the fullest node within 25 % of the mean (the counts are
multinomial: their spread is about √(K/N), 4 % of the mean here); consistent
hashing with 128 virtual nodes keeps it within 60 % (each node's share of
the ring varies by about 1/√128 ≈ 9 %).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.core.placement.compare import (
    MAX_COMPARE_KEYS,
    Movement,
    balance,
    compare,
    movement,
    sample_keys,
)
from cluster.core.placement.consistent import ConsistentHashRing
from cluster.core.placement.modulo import ModuloPlacement
from cluster.core.placement.rendezvous import RendezvousPlacement


def nodes_of(count: int) -> tuple[str, ...]:
    return tuple(f"n{i}" for i in range(1, count + 1))


@settings(max_examples=8, deadline=None)
@given(count=st.integers(3, 10), seed=st.integers(0, 10**6), rf=st.integers(1, 3))
def test_balance_within_stated_bounds(count: int, seed: int, rf: int) -> None:
    keys = sample_keys(6000 // rf, random.Random(seed))
    nodes = nodes_of(count)
    for strategy, max_over_mean, relative_stddev in (
        (ModuloPlacement(nodes), 1.25, 0.10),
        (RendezvousPlacement(nodes), 1.25, 0.10),
        (ConsistentHashRing(nodes, 128), 1.6, 0.25),
    ):
        b = balance(strategy, keys, rf)
        assert sum(b.counts.values()) == len(keys) * rf
        assert b.max_over_mean <= max_over_mean, (strategy.name, b)
        assert b.relative_stddev <= relative_stddev, (strategy.name, b)


def test_virtual_nodes_improve_balance() -> None:
    keys = sample_keys(6000, random.Random(5))
    worse = better = 0.0
    for seed in range(5):  # average over node names so one lucky ring cannot decide
        nodes = tuple(f"s{seed}-{i}" for i in range(8))
        worse += balance(ConsistentHashRing(nodes, 1), keys).relative_stddev
        better += balance(ConsistentHashRing(nodes, 200), keys).relative_stddev
    assert better < worse / 3


def test_balance_and_movement_by_hand() -> None:
    b = balance(ModuloPlacement(("a", "b")), ["k1", "k2", "k3", "k4"])
    assert sum(b.counts.values()) == 4 and b.mean == 2.0
    assert b.stddev == abs(b.counts["a"] - 2.0)
    same = movement(ModuloPlacement(("a", "b")), ModuloPlacement(("a", "b")), ["x", "y"], 2)
    assert same == Movement(2, 0, 0, 0)
    swapped = movement(ModuloPlacement(("a", "b")), ModuloPlacement(("b", "a")), ["x"], 2)
    assert swapped.keys_moved == 0 and swapped.primaries_moved == 1  # same holders, new primary
    grown = movement(ModuloPlacement(("a",)), ModuloPlacement(("a", "b")), ["x", "y", "z"], 1)
    assert grown.replicas_moved == grown.keys_moved == grown.primaries_moved


def test_compare_reports_every_strategy() -> None:
    nodes = nodes_of(6)
    keys = sample_keys(3000, random.Random(1))
    reports = compare(
        [ModuloPlacement(nodes), ConsistentHashRing(nodes, 128), RendezvousPlacement(nodes)],
        keys,
        rf=2,
        joining="n7",
        leaving="n3",
    )
    by_name = {r.name: r for r in reports}
    assert list(by_name) == ["modulo", "consistent", "rendezvous"]
    assert by_name["modulo"].join.fraction_moved > 0.7
    for name in ("consistent", "rendezvous"):
        assert by_name[name].join.fraction_moved < 0.45  # about 2/7 with two replicas
        assert by_name[name].leave.fraction_moved < 0.45
    assert all(r.join.keys_total == 3000 for r in reports)


def test_limits() -> None:
    with pytest.raises(ValueError, match="count must be between 0 and"):
        sample_keys(MAX_COMPARE_KEYS + 1, random.Random(0))
    assert sample_keys(3, random.Random(9)) == sample_keys(3, random.Random(9))
    with pytest.raises(ValueError, match="at most"):
        balance(ModuloPlacement(("a",)), ["k"] * (MAX_COMPARE_KEYS + 1))
