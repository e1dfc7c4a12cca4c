"""Modulo placement: node number ``hash(key) mod N``, replicas on the next nodes.

The first idea everyone has, and the baseline the others are measured
against. It balances well, but N is in the formula: when one node joins or
leaves, ``hash mod N`` and ``hash mod (N±1)`` agree for only about 1/(N+1)
of the keys, so nearly every chunk must move. compare.py measures it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.placement.hashing import Key, hash_function, key_bytes
from cluster.core.placement.strategy import check_nodes, check_rf, joined, left


@dataclass(frozen=True, slots=True)
class ModuloPlacement:
    """Nodes in the order given; a join appends, so the order is the join order."""

    nodes: tuple[str, ...]
    hash_name: str = "sha256"

    def __post_init__(self) -> None:
        check_nodes(self.nodes)
        hash_function(self.hash_name)

    @property
    def name(self) -> str:
        return "modulo"

    def place(self, key: Key, rf: int) -> list[str]:
        check_rf(rf, self.nodes)
        n = len(self.nodes)
        first = hash_function(self.hash_name)(key_bytes(key)) % n
        return [self.nodes[(first + i) % n] for i in range(rf)]

    def with_node(self, node: str) -> ModuloPlacement:
        return ModuloPlacement(joined(self.nodes, node), self.hash_name)

    def without_node(self, node: str) -> ModuloPlacement:
        return ModuloPlacement(left(self.nodes, node), self.hash_name)
