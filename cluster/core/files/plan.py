"""Which nodes should hold a chunk: the placement strategy applied to the cluster.

The strategies themselves (cluster/core/placement) place a key on ``rf``
distinct nodes out of a set. Here that set is the Raft voters, and two
practical rules are added:

* ``rf`` is capped by the number of members: three copies on a two-node
  cluster means one on each;
* nodes that are *down* (the caller decides what that means: the leader
  uses "not heard from for longer than the repair grace period", an upload
  uses "not reachable right now") are skipped, and the next node of the
  key's preference order takes their place. For consistent hashing and
  rendezvous this is exactly the placement without those nodes, so a node
  that is down moves only its own chunks; for modulo it keeps the other
  nodes' numbers, so a short outage does not reshuffle everything.

Strategies are built once per (settings, members): a consistent-hashing
ring hashes every virtual node, thousands of hashes, so it is cached.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence

from cluster.core.files.meta import PlacementSettings
from cluster.core.placement.consistent import ConsistentHashRing
from cluster.core.placement.modulo import ModuloPlacement
from cluster.core.placement.rendezvous import RendezvousPlacement
from cluster.core.placement.strategy import Strategy

# PlacementSettings.hash names → cluster.core.placement.hashing names.
HASH_FUNCTIONS = {"sha256": "sha256", "md5": "md5", "sha1": "sha1", "modhash": "mod"}
# Distinct (settings, members) strategies kept built: a settings change or a
# membership change makes a new one; the old one is still wanted while a
# rebalance compares the two.
STRATEGY_CACHE_SIZE = 16


@functools.lru_cache(maxsize=STRATEGY_CACHE_SIZE)
def _build(settings_key: tuple[str, str, int], members: tuple[str, ...]) -> Strategy:
    strategy, hash_name, vnodes = settings_key
    hash_function = HASH_FUNCTIONS[hash_name]
    if strategy == "consistent":
        return ConsistentHashRing(members, vnodes, hash_function)
    if strategy == "rendezvous":
        return RendezvousPlacement(members, hash_function)
    return ModuloPlacement(members, hash_function)


def strategy_for(settings: PlacementSettings, members: Sequence[str]) -> Strategy:
    """The placement strategy ``settings`` name, over ``members`` (in this order)."""
    return _build((settings.strategy, settings.hash, settings.vnodes), tuple(members))


def effective_rf(settings: PlacementSettings, members: Sequence[str]) -> int:
    """Copies each chunk should have: ``settings.rf``, capped by the member count."""
    return min(settings.rf, len(members))


def desired_replicas(
    settings: PlacementSettings, members: Sequence[str], down: Collection[str], key: str
) -> list[str]:
    """The nodes that should hold ``key`` (a chunk's sha256 hex), primary first.

    At most ``effective_rf`` nodes, none of them in ``down``; fewer when not
    enough members are up (possibly none). ``members`` must not be empty.
    """
    rf = effective_rf(settings, members)
    strategy = strategy_for(settings, members)
    down_members = sum(1 for m in members if m in down)
    if not down_members:
        return strategy.place(key, rf)
    # Each down node can displace at most one of the first rf: look that much further.
    order = strategy.place(key, min(len(members), rf + down_members))
    return [node for node in order if node not in down][:rf]
