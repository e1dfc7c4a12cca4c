"""Consistent hashing: nodes and keys on one ring, a key belongs clockwise.

Positions run from 0 to RING_SIZE − 1 and wrap around. Each node is put on
the ring ``vnodes`` times (virtual nodes, tokens at ``hash("n3#17")``); a key
at ``hash(key)`` is stored on the node of the first token at or after it,
and its replicas on the next *distinct* nodes clockwise. When a node joins,
its tokens take over only the arcs just before them — about 1/(N+1) of the
keys, all moving *to* the new node; when it leaves, only its keys move.

Why virtual nodes: with one token per node the arcs have very unequal
lengths (the largest of N random arcs is about ln N / N of the ring), so one
node may hold several times its share. With v tokens per node each node's
share is a sum of v arcs and its spread shrinks like 1/√v: 100 tokens give
about ±10 %. ``tokens()`` exposes the ring for the dashboard's ring view.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from cluster.core.placement.hashing import RING_BITS, Key, hash_function, key_bytes
from cluster.core.placement.strategy import check_nodes, check_rf, joined, left

RING_SIZE = 1 << RING_BITS  # drawable as an angle; token collisions rare even for 50k tokens
DEFAULT_VNODES = 128
MAX_VNODES = 1000  # 50 nodes × 1000 tokens stay cheap to build and draw


@dataclass(frozen=True, slots=True)
class Token:
    position: int
    node: str
    vnode: int


@dataclass(frozen=True, slots=True)
class ConsistentHashRing:
    nodes: tuple[str, ...]
    vnodes: int = DEFAULT_VNODES
    hash_name: str = "sha256"
    _tokens: tuple[Token, ...] = field(init=False, repr=False, compare=False)
    _positions: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_nodes(self.nodes)
        if not 1 <= self.vnodes <= MAX_VNODES:
            raise ValueError(f"vnodes must be between 1 and {MAX_VNODES}, got {self.vnodes}")
        h = hash_function(self.hash_name)
        tokens = sorted(
            (
                Token(h(f"{node}#{i}".encode()) % RING_SIZE, node, i)
                for node in self.nodes
                for i in range(self.vnodes)
            ),
            key=lambda t: (t.position, t.node, t.vnode),  # collisions: a fixed order
        )
        object.__setattr__(self, "_tokens", tuple(tokens))
        object.__setattr__(self, "_positions", tuple(t.position for t in tokens))

    @property
    def name(self) -> str:
        return "consistent"

    def tokens(self) -> tuple[Token, ...]:
        """Every token on the ring, by position (for the ring view)."""
        return self._tokens

    def position(self, key: Key) -> int:
        """Where ``key`` sits on the ring."""
        return hash_function(self.hash_name)(key_bytes(key)) % RING_SIZE

    def place(self, key: Key, rf: int) -> list[str]:
        check_rf(rf, self.nodes)
        start = bisect.bisect_left(self._positions, self.position(key))
        chosen: list[str] = []
        count = len(self._tokens)
        for step in range(count):
            node = self._tokens[(start + step) % count].node
            if node not in chosen:
                chosen.append(node)
                if len(chosen) == rf:
                    break
        return chosen

    def ring_share(self) -> dict[str, float]:
        """Fraction of the ring each node owns as primary (the arcs ending at its tokens)."""
        share = dict.fromkeys(self.nodes, 0)
        previous = self._tokens[-1].position - RING_SIZE  # the arc that wraps past zero
        for token in self._tokens:
            share[token.node] += token.position - previous
            previous = token.position
        return {node: arc / RING_SIZE for node, arc in share.items()}

    def with_node(self, node: str) -> ConsistentHashRing:
        return ConsistentHashRing(joined(self.nodes, node), self.vnodes, self.hash_name)

    def without_node(self, node: str) -> ConsistentHashRing:
        return ConsistentHashRing(left(self.nodes, node), self.vnodes, self.hash_name)
