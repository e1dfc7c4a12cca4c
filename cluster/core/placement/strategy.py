"""What every placement strategy offers, so the file layer and the comparison
can swap modulo, consistent hashing and rendezvous without knowing which.

A strategy is a value over a set of nodes: ``place`` answers "which RF
distinct nodes store this key, primary first", and joining or leaving gives
a *new* strategy, so the old and the new placement can be compared key by
key (compare.py) — which is exactly what a rebalancer has to do.
"""

from __future__ import annotations

from typing import Protocol

from cluster.core.placement.hashing import Key

MAX_PLACEMENT_NODES = 256  # far above a run (50 nodes); bounds rings and score loops


class Strategy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def nodes(self) -> tuple[str, ...]: ...

    def place(self, key: Key, rf: int) -> list[str]:
        """``rf`` distinct nodes for ``key``, primary first; ValueError if rf is not 1..N."""
        ...

    def with_node(self, node: str) -> Strategy:
        """The same strategy after ``node`` joined."""
        ...

    def without_node(self, node: str) -> Strategy:
        """The same strategy after ``node`` left."""
        ...


def check_nodes(nodes: tuple[str, ...]) -> tuple[str, ...]:
    """Refuse an empty, oversized or duplicated node list (a caller's mistake)."""
    if not nodes:
        raise ValueError("placement needs at least one node")
    if len(nodes) > MAX_PLACEMENT_NODES:
        raise ValueError(f"at most {MAX_PLACEMENT_NODES} nodes, got {len(nodes)}")
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"node ids must be distinct: {list(nodes)}")
    if not all(isinstance(n, str) and n for n in nodes):
        raise ValueError("node ids must be non-empty strings")
    return nodes


def check_rf(rf: int, nodes: tuple[str, ...]) -> None:
    if isinstance(rf, bool) or not isinstance(rf, int) or not 1 <= rf <= len(nodes):
        raise ValueError(f"replication factor must be between 1 and {len(nodes)} nodes, got {rf!r}")


def joined(nodes: tuple[str, ...], node: str) -> tuple[str, ...]:
    if node in nodes:
        raise ValueError(f"{node} is already a member")
    return (*nodes, node)


def left(nodes: tuple[str, ...], node: str) -> tuple[str, ...]:
    if node not in nodes:
        raise ValueError(f"{node} is not a member")
    return tuple(n for n in nodes if n != node)
