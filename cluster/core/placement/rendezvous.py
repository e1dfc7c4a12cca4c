"""Rendezvous (highest random weight) placement: every node bids for every key.

For a key, each node gets the score ``hash(node ‖ key)``; the key lives on
the RF highest scorers. Nothing is stored (no ring, no table), and when a
node joins it takes exactly the keys where it outbids the current holders —
about 1/(N+1) of them — while every other key stays put; when a node leaves,
only its keys move, each to its next-highest bidder. The price is N hashes
per lookup instead of one (fine for tens of nodes).
"""

from __future__ import annotations

from dataclasses import dataclass

from cluster.core.placement.hashing import Key, hash_function, key_bytes
from cluster.core.placement.strategy import check_nodes, check_rf, joined, left

SEPARATOR = b"\x00"  # "n1"‖"2x" and "n12"‖"x" must not hash the same input


@dataclass(frozen=True, slots=True)
class RendezvousPlacement:
    nodes: tuple[str, ...]
    hash_name: str = "sha256"

    def __post_init__(self) -> None:
        check_nodes(self.nodes)
        hash_function(self.hash_name)

    @property
    def name(self) -> str:
        return "rendezvous"

    def scores(self, key: Key) -> dict[str, int]:
        """Every node's bid for ``key`` (the dashboard shows them as bars)."""
        h = hash_function(self.hash_name)
        data = key_bytes(key)
        return {node: h(node.encode("utf-8") + SEPARATOR + data) for node in self.nodes}

    def place(self, key: Key, rf: int) -> list[str]:
        check_rf(rf, self.nodes)
        scores = self.scores(key)
        # Highest score first; an exact tie (vanishingly rare) goes to the smaller name.
        return sorted(self.nodes, key=lambda n: (-scores[n], n))[:rf]

    def with_node(self, node: str) -> RendezvousPlacement:
        return RendezvousPlacement(joined(self.nodes, node), self.hash_name)

    def without_node(self, node: str) -> RendezvousPlacement:
        return RendezvousPlacement(left(self.nodes, node), self.hash_name)
