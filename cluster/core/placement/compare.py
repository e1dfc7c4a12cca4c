"""Measure placement strategies on real keys: how even, and how much moves.

Two numbers decide whether a placement strategy is usable for a storage
cluster: balance (does every node hold about the same number of chunks?)
and movement (when a node joins or leaves, how many chunks must be copied?).
This module computes both from the actual placement of the keys it is
given — the cluster's real chunk names, or ``sample_keys`` for a lesson —
rather than from formulas, so the dashboard's comparison table shows what
the code really does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from cluster.core.placement.hashing import Key
from cluster.core.placement.strategy import Strategy

MAX_COMPARE_KEYS = 200_000  # rendezvous hashes N times per key; keeps a comparison under seconds


@dataclass(frozen=True, slots=True)
class Balance:
    """Chunks (key replicas) per node and how uneven they are."""

    counts: dict[str, int]
    mean: float
    max_over_mean: float  # 1.0 is perfect; the fullest node sets the cluster's capacity
    stddev: float  # population standard deviation of the counts

    @property
    def relative_stddev(self) -> float:
        return self.stddev / self.mean if self.mean else 0.0


@dataclass(frozen=True, slots=True)
class Movement:
    """What changes between two placements of the same keys."""

    keys_total: int
    keys_moved: int  # keys whose set of holders changed
    primaries_moved: int  # keys whose first holder changed
    replicas_moved: int  # (key, node) placements that are new: chunks to copy

    @property
    def fraction_moved(self) -> float:
        return self.keys_moved / self.keys_total if self.keys_total else 0.0


@dataclass(frozen=True, slots=True)
class StrategyReport:
    name: str
    balance: Balance
    join: Movement
    leave: Movement


def _check(keys: Sequence[Key]) -> None:
    if len(keys) > MAX_COMPARE_KEYS:
        raise ValueError(f"at most {MAX_COMPARE_KEYS} keys per comparison, got {len(keys)}")


def balance(strategy: Strategy, keys: Sequence[Key], rf: int = 1) -> Balance:
    _check(keys)
    counts = dict.fromkeys(strategy.nodes, 0)
    for key in keys:
        for node in strategy.place(key, rf):
            counts[node] += 1
    values = list(counts.values())
    mean = sum(values) / len(values)
    stddev = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return Balance(counts, mean, max(values) / mean if mean else 0.0, stddev)


def movement(before: Strategy, after: Strategy, keys: Sequence[Key], rf: int = 1) -> Movement:
    _check(keys)
    keys_moved = primaries_moved = replicas_moved = 0
    for key in keys:
        old, new = before.place(key, rf), after.place(key, rf)
        if set(old) != set(new):
            keys_moved += 1
        if old[0] != new[0]:
            primaries_moved += 1
        replicas_moved += len(set(new) - set(old))
    return Movement(len(keys), keys_moved, primaries_moved, replicas_moved)


def compare(
    strategies: Sequence[Strategy],
    keys: Sequence[Key],
    rf: int,
    joining: str,
    leaving: str,
) -> list[StrategyReport]:
    """Balance of each strategy, and what moves if ``joining`` joins or ``leaving`` leaves."""
    return [
        StrategyReport(
            s.name,
            balance(s, keys, rf),
            movement(s, s.with_node(joining), keys, rf),
            movement(s, s.without_node(leaving), keys, min(rf, len(s.nodes) - 1)),
        )
        for s in strategies
    ]


def sample_keys(count: int, rng: random.Random) -> list[str]:
    """Chunk-like names (``chunk-<16 hex digits>``) drawn from a seeded generator."""
    if not 0 <= count <= MAX_COMPARE_KEYS:
        raise ValueError(f"count must be between 0 and {MAX_COMPARE_KEYS}, got {count}")
    return [f"chunk-{rng.getrandbits(64):016x}" for _ in range(count)]
