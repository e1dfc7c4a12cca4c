"""Topology edits reaching one node: the ``SetLinks`` and ``SetLink`` commands.

The backend owns the topology; when the instructor cuts, restores or
changes a link, it sends each affected node its new neighbour set
(``SetLinks``) or the one changed link (``SetLink``). A command is remote
data: every value is checked here before the node touches a socket, and a
bad one is refused as a whole (counted as ``commands_refused``), so a node
never runs with half of an edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cluster.config import NeighbourLink, PeerAddr
from cluster.core.topology import Link
from cluster.node.node import Node
from cluster.schema.control import SetLink, SetLinks

NEIGHBOUR_FIELDS = ("cost", "latency_ms", "jitter_ms", "loss", "bandwidth_mbps")


def neighbour_problems(
    node_id: str, neighbour: NeighbourLink, address_book: Mapping[str, PeerAddr]
) -> list[str]:
    """Everything wrong with one neighbour entry, as readable phrases."""
    peer = neighbour.peer
    if not isinstance(peer, str) or peer not in address_book:
        return [f"unknown peer {peer!r}"]
    if peer == node_id:
        return ["a node cannot be its own neighbour"]
    cost = neighbour.cost
    # Link checks every property; a None cost (inbound-only link) stands in as 1.
    link = Link(
        node_id,
        peer,
        1 if cost is None else cost,
        neighbour.latency_ms,
        neighbour.jitter_ms,
        neighbour.loss,
        neighbour.bandwidth_mbps,
    )
    return [f"link to {peer}: {p}" for p in link.problems()]


def parse_neighbour(raw: Any) -> NeighbourLink:
    """One ``SetLinks`` entry as a NeighbourLink; ValueError names what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"a link entry must be a map, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"peer", *NEIGHBOUR_FIELDS})
    if unknown:
        raise ValueError(f"unknown link field {unknown[0]!r}")
    values = {k: raw[k] for k in NEIGHBOUR_FIELDS if k in raw}
    for k in ("latency_ms", "jitter_ms", "loss", "bandwidth_mbps"):
        value = values.get(k)
        if isinstance(value, int) and not isinstance(value, bool):
            values[k] = float(value)  # msgpack keeps 5 an int; it means 5.0
    return NeighbourLink(raw.get("peer", ""), **values)


def check_all(node: Node, wanted: list[NeighbourLink]) -> list[NeighbourLink]:
    peers = [n.peer for n in wanted]
    if len(set(peers)) != len(peers):
        raise ValueError("a peer is listed twice")
    for neighbour in wanted:
        problems = neighbour_problems(node.id, neighbour, node.address_book)
        if problems:
            raise ValueError("; ".join(problems))
    return wanted


class NeighbourCommands:
    """Applies the hub's topology edits to ``node``."""

    def __init__(self, node: Node) -> None:
        self._node = node
        node.on_command(SetLinks, self._on_set_links)
        node.on_command(SetLink, self._on_set_link)

    def _on_set_links(self, command: Any) -> None:
        assert isinstance(command, SetLinks)
        wanted = check_all(self._node, [parse_neighbour(raw) for raw in command.links])
        self._node.apply_links(wanted)

    def _on_set_link(self, command: Any) -> None:
        assert isinstance(command, SetLink)
        current = {peer: n for peer, n in self._node.neighbours.items() if peer != command.peer}
        if command.up:
            current[command.peer] = parse_neighbour(
                {
                    "peer": command.peer,
                    "cost": command.cost,
                    "latency_ms": command.latency_ms,
                    "jitter_ms": command.jitter_ms,
                    "loss": command.loss,
                    "bandwidth_mbps": command.bandwidth_mbps,
                }
            )
        self._node.apply_links(check_all(self._node, list(current.values())))
