"""What the dashboard needs to draw a placement: ring positions, tokens, a comparison.

The nodes decide where chunks go (cluster/core/files/plan.py, run inside
each node). The page only has to *show* it: where a chunk sits on the hash
ring, where each node's virtual-node tokens are, and how the three
strategies would compare on this cluster's own chunks. Those are pure
functions of the placement settings, the members and the chunk keys, so
the backend computes them with the same core modules the nodes use
(docs/architecture.md allows backend → core for exactly this), and the
pictures cannot drift from what the nodes do.
"""

from __future__ import annotations

import copy
import functools
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cluster.core.files.meta import PlacementSettings
from cluster.core.files.plan import HASH_FUNCTIONS, effective_rf, strategy_for
from cluster.core.placement.compare import Balance, Movement, balance, movement, sample_keys
from cluster.core.placement.consistent import RING_SIZE, ConsistentHashRing
from cluster.core.placement.hashing import hash_function, key_bytes

# Fewer real chunks than this say little about balance: compare on samples.
MIN_REAL_KEYS = 50
SAMPLE_KEYS = 1000
SAMPLE_SEED = 5  # the same sample every time, so two requests show the same bars
# Rendezvous hashes every key once per node, for the balance and both moves:
# this many keys keep a comparison around a second on a busy 2-core laptop.
MAX_COMPARE_KEYS = 2000
# Comparisons remembered: the chart asks again after every file change and
# on every page load; the answer changes only with the keys, settings, members.
COMPARE_CACHE_SIZE = 8
# The strategies compared, in the order the chart shows them.
COMPARED = ("modulo", "consistent", "rendezvous")
_NODE_NUMBER = re.compile(r"n(\d+)")


def settings_from(answer: Mapping[str, Any]) -> PlacementSettings:
    """The settings in a node's ``GET /placement`` answer; ValueError if malformed."""
    fields = ("strategy", "hash", "rf", "vnodes", "version")
    return PlacementSettings(**{f: answer[f] for f in fields if f in answer})


def position(settings: PlacementSettings, key: str) -> float:
    """Where ``key`` sits on the ring of the current hash, as a fraction 0..1."""
    h = hash_function(HASH_FUNCTIONS[settings.hash])
    return (h(key_bytes(key)) % RING_SIZE) / RING_SIZE


def ring_tokens(settings: PlacementSettings, members: Sequence[str]) -> list[dict[str, Any]]:
    """Every virtual-node token on the ring (consistent hashing only; else empty)."""
    if settings.strategy != "consistent" or not members:
        return []
    ring = strategy_for(settings, members)
    assert isinstance(ring, ConsistentHashRing)
    return [
        {"node": t.node, "position": t.position / RING_SIZE, "vnode": t.vnode}
        for t in ring.tokens()
    ]


def next_node_id(members: Sequence[str]) -> str:
    """A plausible id for a node that would join: one past the highest ``nN``."""
    numbers = [int(m.group(1)) for n in members if (m := _NODE_NUMBER.fullmatch(n))]
    candidate = f"n{max(numbers, default=0) + 1}"
    while candidate in members:
        candidate += "'"
    return candidate


def compare_report(
    settings: PlacementSettings, members: Sequence[str], keys: Sequence[str]
) -> dict[str, Any]:
    """Balance, and keys moved on one join and one leave, per strategy, on ``keys``.

    With fewer than MIN_REAL_KEYS real keys, SAMPLE_KEYS seeded sample keys
    are used instead and ``sample`` says so; more than MAX_COMPARE_KEYS real
    keys are thinned evenly (every k-th in sorted order).
    """
    if not members:
        raise ValueError("no members to place on")
    sample = len(keys) < MIN_REAL_KEYS
    if sample:
        used = sample_keys(SAMPLE_KEYS, random.Random(SAMPLE_SEED))
    else:
        ordered = sorted(set(keys))
        step = -(-len(ordered) // MAX_COMPARE_KEYS)
        used = ordered[::step]
    return copy.deepcopy(_compare(settings, tuple(members), tuple(used), sample, len(set(keys))))


@functools.lru_cache(maxsize=COMPARE_CACHE_SIZE)
def _compare(
    settings: PlacementSettings,
    members: tuple[str, ...],
    used: tuple[str, ...],
    sample: bool,
    real_keys: int,
) -> dict[str, Any]:
    rf = effective_rf(settings, members)
    joining = next_node_id(members)
    leaving = members[-1]
    reports = []
    for name in COMPARED:
        strategy = strategy_for(replace(settings, strategy=name), members)
        report: dict[str, Any] = {
            "name": name,
            "balance": _balance_json(balance(strategy, used, rf)),
            "join": _movement_json(movement(strategy, strategy.with_node(joining), used, rf)),
            "leave": None,
        }
        if len(members) > 1:
            after = strategy.without_node(leaving)
            report["leave"] = _movement_json(
                movement(strategy, after, used, min(rf, len(members) - 1))
            )
        reports.append(report)
    return {
        "keys": len(used),
        "real_keys": real_keys,
        "sample": sample,
        "rf": rf,
        "hash": settings.hash,
        "vnodes": settings.vnodes,
        "current": settings.strategy,
        "members": list(members),
        "joining": joining,
        "leaving": leaving,
        "strategies": reports,
    }


def _balance_json(b: Balance) -> dict[str, Any]:
    return {
        "counts": dict(b.counts),
        "mean": b.mean,
        "max_over_mean": b.max_over_mean,
        "stddev": b.stddev,
        "relative_stddev": b.relative_stddev,
    }


def _movement_json(m: Movement) -> dict[str, Any]:
    return {
        "keys_total": m.keys_total,
        "keys_moved": m.keys_moved,
        "fraction_moved": m.fraction_moved,
        "primaries_moved": m.primaries_moved,
        "replicas_moved": m.replicas_moved,
    }

